// Dequantization of ggml block-quantized rows: the ground truth of what each stored byte means.
using QuantSharp.Core.Kernels.Dequant;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Turns rows of block-quantized weights back into fp32, exactly as ggml's dequantize_row_* do
/// (same float operations in the same order, so results are bit-identical to ggml's).
/// Used for embedding lookups, as the reference for the quantized dot kernels, and by the
/// quantizers' round trips.
/// </summary>
public static class BlockDequantizer
{
    /// <summary>Whether <see cref="DequantizeRow"/> handles <paramref name="type"/>.</summary>
    public static bool Supports(DType type) => type is DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1 or DType.Q8_0
        or DType.Q2_K or DType.Q3_K or DType.Q4_K or DType.Q5_K or DType.Q6_K or DType.Q8_K or DType.IQ4_NL or DType.IQ4_XS or DType.MXFP4;

    /// <summary>Dequantizes one row (or several whole rows) of <paramref name="type"/>.</summary>
    /// <param name="type">A block-quantized type.</param>
    /// <param name="source">Whole blocks; exactly <c>destination.Length / BlockSize</c> of them are read.</param>
    /// <param name="destination">Receives the values; its length must be a multiple of the block size.</param>
    public static unsafe void DequantizeRow(DType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!Supports(type)) throw new NotSupportedException($"dequantization of {type}");
        int bs = DTypeInfo.BlockSize(type), bb = DTypeInfo.BlockBytes(type);
        if (destination.Length % bs != 0) throw new ArgumentException($"{destination.Length} values are not whole {type} blocks of {bs}");
        int nb = destination.Length / bs;
        if (source.Length < (long)nb * bb) throw new ArgumentException($"{type}: {nb} blocks need {(long)nb * bb} bytes, got {source.Length}");
        if (nb == 0) return;
        fixed (byte* x = source)
        fixed (float* y = destination)
            DequantizeBlocks(type, x, y, nb);
    }

    /// <summary>Pointer form of <see cref="DequantizeRow"/> for kernels: <paramref name="blocks"/> whole blocks, no checks.</summary>
    internal static unsafe void DequantizeBlocks(DType type, byte* x, float* y, int blocks)
    {
        switch (type)
        {
            case DType.Q4_0: LegacyDequant.Q4_0(x, y, blocks); break;
            case DType.Q4_1: LegacyDequant.Q4_1(x, y, blocks); break;
            case DType.Q5_0: LegacyDequant.Q5_0(x, y, blocks); break;
            case DType.Q5_1: LegacyDequant.Q5_1(x, y, blocks); break;
            case DType.Q8_0: LegacyDequant.Q8_0(x, y, blocks); break;
            case DType.IQ4_NL: LegacyDequant.IQ4_NL(x, y, blocks); break;
            case DType.Q2_K: KQuantDequant.Q2_K(x, y, blocks); break;
            case DType.Q3_K: KQuantDequant.Q3_K(x, y, blocks); break;
            case DType.Q4_K: KQuantDequant.Q4_K(x, y, blocks); break;
            case DType.Q5_K: KQuantDequant.Q5_K(x, y, blocks); break;
            case DType.Q6_K: KQuantDequant.Q6_K(x, y, blocks); break;
            case DType.Q8_K: KQuantDequant.Q8_K(x, y, blocks); break;
            case DType.IQ4_XS: KQuantDequant.IQ4_XS(x, y, blocks); break;
            case DType.MXFP4: Mxfp4Dequant.Dequantize(x, y, blocks); break;
            default: throw new NotSupportedException($"dequantization of {type}");
        }
    }
}
