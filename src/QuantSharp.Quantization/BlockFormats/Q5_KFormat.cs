// ggml Q5_K: 5-bit weights (4 low bits + a high-bit plane) in 32-weight sub-blocks with 6-bit scales and mins.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q5_K (176 bytes per 256 weights: d, dmin, scales[12], qh[32], qs[128]). Low nibbles as in Q4_K;
/// bit 2k (2k+1) of qh[j] is the high bit of weight 64k + j (64k + 32 + j).
/// </summary>
internal sealed class Q5_KFormat : ScaleMinKQuantFormat, IBlockGrid
{
    private const int QhOffset = 16, QsOffset = 48;

    /// <inheritdoc/>
    public override DType Type => DType.Q5_K;

    /// <inheritdoc/>
    protected override int MaxLevel => 31;

    /// <inheritdoc/>
    protected override (float Rmin, float Rdelta, int Nstep) ReferenceSearch => (-0.5f, 0.1f, 15);

    /// <inheritdoc/>
    protected override bool ClampImatrixScaleLevels => true;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeBlock(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float d = ReadHalf(block, 0), min = ReadHalf(block, 2);
        KQuantScaleMinPacking.Unpack(block.Slice(4, 12), index / 32, out byte sc, out byte m);
        float dl = d * sc, ml = min * m;
        int l = GridRounding.NearestAffine(value, dl, ml, 0, 31);
        int chunk = index / 64, p = index % 64;
        ref byte b = ref block[QsOffset + 32 * chunk + (p & 31)];
        int low = l & 15;
        b = p < 32 ? (byte)((b & 0xF0) | low) : (byte)((b & 0x0F) | (low << 4));
        int bit = 1 << (2 * chunk + (p < 32 ? 0 : 1));
        ref byte h = ref block[QhOffset + (p & 31)];
        h = l > 15 ? (byte)(h | bit) : (byte)(h & ~bit);
        return dl * l - ml;
    }

    /// <inheritdoc/>
    protected override void PackLevels(ReadOnlySpan<byte> levels, Span<byte> block)
    {
        var qh = block.Slice(QhOffset, 32);
        var ql = block.Slice(QsOffset, 128);
        qh.Clear();
        int m1 = 1, m2 = 2;
        for (int n = 0; n < SuperBlockSize; n += 64)
        {
            for (int j = 0; j < 32; j++)
            {
                int l1 = levels[n + j];
                if (l1 > 15) { l1 -= 16; qh[j] = (byte)(qh[j] | m1); }
                int l2 = levels[n + j + 32];
                if (l2 > 15) { l2 -= 16; qh[j] = (byte)(qh[j] | m2); }
                ql[n / 2 + j] = (byte)(l1 | (l2 << 4));
            }
            m1 <<= 2; m2 <<= 2;
        }
    }
}
