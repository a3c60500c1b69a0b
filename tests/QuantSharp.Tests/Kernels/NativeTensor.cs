// Test helper: a weight tensor in native memory, built from fp32 values in a chosen dtype.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Tests.Kernels;

/// <summary>Owns unmanaged bytes for a [rows, cols] tensor and exposes them as a <see cref="TensorView"/>.</summary>
internal sealed unsafe class NativeTensor : IDisposable
{
    private byte* _p;

    /// <summary>Rounds <paramref name="values"/> to <paramref name="dtype"/>; <see cref="Values"/> holds the rounded values.</summary>
    public NativeTensor(DType dtype, int rows, int cols, float[] values)
    {
        long bytes = (long)rows * cols * DTypeInfo.SizeOf(dtype);
        _p = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, bytes), 64);
        Values = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: ((float*)_p)[i] = values[i]; Values[i] = values[i]; break;
                case DType.F16: ((Half*)_p)[i] = (Half)values[i]; Values[i] = (float)((Half*)_p)[i]; break;
                case DType.BF16:
                    ushort b = FloatConversion.FloatToBF16(values[i]);
                    ((ushort*)_p)[i] = b; Values[i] = FloatConversion.BF16ToFloat(b); break;
                default: throw new NotSupportedException(dtype.ToString());
            }
        }
        View = new TensorView("w", dtype, [rows, cols], _p, bytes);
    }

    /// <summary>The weights as fp32, exactly as stored.</summary>
    public float[] Values { get; }

    /// <summary>The tensor.</summary>
    public TensorView View { get; }

    public void Dispose()
    {
        if (_p != null) { NativeMemory.AlignedFree(_p); _p = null; }
    }
}
