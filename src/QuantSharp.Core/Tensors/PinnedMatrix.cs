// An fp32 matrix in a pinned managed array, usable wherever a TensorView weight is expected.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantSharp.Core.Tensors;

/// <summary>
/// A row-major fp32 matrix [rows, cols] held in a pinned array so that a <see cref="TensorView"/>
/// over it stays valid (e.g. dequantized weights fed to <c>MatMul</c> during calibration). Freed by
/// the garbage collector with the object.
/// </summary>
public sealed unsafe class PinnedMatrix
{
    /// <summary>Wraps a copy of <paramref name="values"/> (rows·cols of them).</summary>
    public PinnedMatrix(string name, ReadOnlySpan<float> values, int rows, int cols)
    {
        if ((long)rows * cols != values.Length)
            throw new ArgumentException($"matrix '{name}': {values.Length} values do not fill [{rows}, {cols}]");
        Data = GC.AllocateUninitializedArray<float>(values.Length, pinned: true);
        values.CopyTo(Data);
        View = new TensorView(name, DType.F32, [rows, cols],
            (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Data)), (long)values.Length * sizeof(float));
    }

    /// <summary>The values (pinned), row-major.</summary>
    public float[] Data { get; }

    /// <summary>A view of <see cref="Data"/> valid while this object is alive.</summary>
    public TensorView View { get; }
}
