// Scalar primitives whose exact rounding behaviour the ggml quantizers depend on (fp16 storage, nearest_int).
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// The few scalar operations the ggml quantizers are built from, written so that every result is
/// bit-identical to ggml's C code: all arithmetic is single precision (as in C with SSE, no FMA
/// contraction, which RyuJIT never does either) and conversions round exactly as ggml's do.
/// </summary>
internal static class GgmlScalar
{
    /// <summary>
    /// ggml's <c>nearest_int</c>: adds 1.5·2^23 so the FPU rounds to an integer (half to even) and
    /// reads the low mantissa bits. Reproduced bit for bit, including what it returns for inputs
    /// beyond ±2^22 and for NaN, because some searches feed it such values and then clamp.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007fffff) - 0x00400000;
    }

    /// <summary>
    /// fp32 → fp16 bits with round-to-nearest-even, NaN kept as a quiet NaN with its sign: what
    /// GGML_FP32_TO_FP16 computes. .NET's (Half) conversion is correctly rounded the same way;
    /// a test checks it against ggml's bit-manipulation algorithm. NaN payloads are the one
    /// difference (.NET keeps them, ggml writes the canonical quiet NaN), so NaN is mapped here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToFp16Bits(float value) =>
        float.IsNaN(value)
            ? (ushort)((BitConverter.SingleToUInt32Bits(value) >> 16) & 0x8000 | 0x7E00)
            : BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Writes fp16(<paramref name="value"/>) little-endian at the start of <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteFp16(Span<byte> destination, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(destination, ToFp16Bits(value));

    /// <summary>
    /// ggml's <c>best_index_int8</c>: the index of the value in the sorted table <paramref name="values"/>
    /// nearest to <paramref name="x"/>, ties going to the larger value (the comparison is strict,
    /// as in ggml).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int BestIndex(ReadOnlySpan<sbyte> values, float x)
    {
        int n = values.Length;
        if (x <= values[0]) return 0;
        if (x >= values[n - 1]) return n - 1;
        int lo = 0, hi = n - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (x < values[mid]) hi = mid; else lo = mid;
        }
        return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
    }
}
