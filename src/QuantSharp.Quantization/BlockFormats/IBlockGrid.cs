// A block format split in two: choose a block's scales from its values, then round single values onto them.
namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// The two halves of a block quantizer that GPTQ-style error feedback needs. Choosing a block's
/// parameters (scales, mins) is the format's ordinary search, run on one block; rounding then
/// happens one value at a time against those stored parameters, so a caller can change the values
/// not yet rounded (spreading earlier rounding errors onto them) between calls. Implemented by the
/// formats GPTQ can target; their <see cref="IBlockFormat.QuantizeRow"/> output is unaffected.
/// </summary>
internal interface IBlockGrid
{
    /// <summary>Weights per block.</summary>
    int BlockSize { get; }

    /// <summary>Bytes per block.</summary>
    int BlockBytes { get; }

    /// <summary>
    /// Quantizes one block of finite values into <paramref name="block"/> exactly as
    /// <see cref="IBlockFormat.QuantizeRow"/> would for a row holding just this block (for the
    /// 32-weight formats with importance, statistics ggml takes over the whole row are taken over
    /// the block). <paramref name="importance"/> is empty or one weight per value.
    /// </summary>
    void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance);

    /// <summary>
    /// Rounds <paramref name="value"/> to the nearest value element <paramref name="index"/> of
    /// <paramref name="block"/> can take under the block's stored scales, writes that level into the
    /// block and returns the value it dequantizes to (bit-identical to BlockDequantizer's).
    /// </summary>
    float RoundElement(Span<byte> block, int index, float value);
}
