// ggml Q4_K: 4-bit weights in 32-weight sub-blocks with 6-bit scales and mins.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q4_K (144 bytes per 256 weights: d, dmin, scales[12], qs[128]); quants of each 64 weights share
/// 32 bytes, the first 32 in the low nibbles and the next 32 in the high nibbles.
/// </summary>
internal sealed class Q4_KFormat : ScaleMinKQuantFormat, IBlockGrid
{
    private const int QsOffset = 16;

    /// <inheritdoc/>
    public override DType Type => DType.Q4_K;

    /// <inheritdoc/>
    protected override int MaxLevel => 15;

    /// <inheritdoc/>
    protected override (float Rmin, float Rdelta, int Nstep) ReferenceSearch => (-1f, 0.1f, 20);

    /// <inheritdoc/>
    protected override bool ClampImatrixScaleLevels => false;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeBlock(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float d = ReadHalf(block, 0), min = ReadHalf(block, 2);
        KQuantScaleMinPacking.Unpack(block.Slice(4, 12), index / 32, out byte sc, out byte m);
        float dl = d * sc, ml = min * m;
        int l = GridRounding.NearestAffine(value, dl, ml, 0, 15);
        int p = index % 64;
        ref byte b = ref block[QsOffset + 32 * (index / 64) + (p & 31)];
        b = p < 32 ? (byte)((b & 0xF0) | l) : (byte)((b & 0x0F) | (l << 4));
        return dl * l - ml;
    }

    /// <inheritdoc/>
    protected override void PackLevels(ReadOnlySpan<byte> levels, Span<byte> block)
    {
        var q = block.Slice(QsOffset, 128);
        for (int j = 0; j < SuperBlockSize; j += 64)
            for (int l = 0; l < 32; l++)
                q[j / 2 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
    }
}
