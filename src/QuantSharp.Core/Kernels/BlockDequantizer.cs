// Dequantization of ggml block-quantized rows: the ground truth of what each stored byte means.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Turns rows of block-quantized weights back into fp32, exactly as ggml's dequantize_row_* do.
/// Used for embedding lookups, as the reference for the quantized dot kernels, and by the
/// quantizers' round trips.
/// </summary>
public static class BlockDequantizer
{
    /// <summary>Dequantizes one row (or several whole rows) of <paramref name="type"/>.</summary>
    public static void DequantizeRow(DType type, ReadOnlySpan<byte> source, Span<float> destination)
        => throw new NotImplementedException($"dequantization of {type} is being written on the qdot branch");
}
