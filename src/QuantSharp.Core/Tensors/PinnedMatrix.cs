// An fp32 matrix in a pinned managed array, usable wherever a TensorView weight is expected.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantSharp.Core.Tensors;

/// <summary>
/// A row-major fp32 matrix [rows, cols] held in a pinned array so that a <see cref="TensorView"/>
/// over it stays valid (e.g. dequantized weights fed to <c>MatMul</c> during calibration). Freed by
/// the garbage collector with the object.
/// </summary>
public sealed unsafe class PinnedMatrix : IDisposable
{
    private GCHandle _pin;

    /// <summary>Wraps a copy of <paramref name="values"/> (rows·cols of them).</summary>
    public PinnedMatrix(string name, ReadOnlySpan<float> values, int rows, int cols)
    {
        Check(name, values.Length, rows, cols);
        Data = GC.AllocateUninitializedArray<float>(values.Length, pinned: true);
        values.CopyTo(Data);
        View = MakeView(name, rows, cols);
    }

    /// <summary>Wraps <paramref name="values"/> itself (no copy), pinning it until <see cref="Dispose"/>.</summary>
    public PinnedMatrix(string name, float[] values, int rows, int cols, bool pinInPlace)
    {
        Check(name, values.Length, rows, cols);
        if (!pinInPlace) throw new ArgumentException("use the copying constructor", nameof(pinInPlace));
        Data = values;
        _pin = GCHandle.Alloc(values, GCHandleType.Pinned);
        View = MakeView(name, rows, cols);
    }

    private static void Check(string name, int length, int rows, int cols)
    {
        if ((long)rows * cols != length)
            throw new ArgumentException($"matrix '{name}': {length} values do not fill [{rows}, {cols}]");
    }

    private TensorView MakeView(string name, int rows, int cols) => new(name, DType.F32, [rows, cols],
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Data)), (long)Data.Length * sizeof(float));

    /// <summary>The values (pinned), row-major.</summary>
    public float[] Data { get; }

    /// <summary>A view of <see cref="Data"/>, valid while this object is alive and, for a pinned-in-place array, not disposed.</summary>
    public TensorView View { get; }

    /// <summary>Releases the pin of an array wrapped in place (nothing to do for a copy).</summary>
    public void Dispose()
    {
        if (_pin.IsAllocated) _pin.Free();
    }
}
