// ggml Q6_K: 6-bit weights (4 low bits + 2 high bits) in 16-weight sub-blocks with int8 scales.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q6_K (210 bytes per 256 weights: ql[128], qh[64], int8 scales[16], d). Each sub-block's scale is
/// make_qx_quants with nmax 32, under x² weights (reference) or the raw importance weights (imatrix:
/// unlike the other k-quants, quantize_row_q6_K_impl passes qw through unchanged).
/// </summary>
internal sealed class Q6_KFormat : KQuantFormat, IBlockGrid
{
    private const int QlOffset = 0, QhOffset = 128, ScalesOffset = 192, DOffset = 208;

    /// <inheritdoc/>
    public override DType Type => DType.Q6_K;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeBlock(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float scale = ReadHalf(block, DOffset) * (sbyte)block[ScalesOffset + index / 16];
        int l = GridRounding.NearestScaled(value, scale, -32, 0, 63);
        int n = index / 128, p = index % 128, quarter = p / 32, i = p & 31;
        ref byte b = ref block[QlOffset + 64 * n + i + 32 * (quarter & 1)];
        b = quarter < 2 ? (byte)((b & 0xF0) | (l & 15)) : (byte)((b & 0x0F) | ((l & 15) << 4));
        int shift = 2 * quarter;
        ref byte h = ref block[QhOffset + 32 * n + i];
        h = (byte)((h & ~(3 << shift)) | ((l >> 4) << shift));
        return (l - 32) * scale;
    }

    /// <inheritdoc/>
    protected override void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance)
    {
        Span<sbyte> levels = stackalloc sbyte[SuperBlockSize];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        if (importance.IsEmpty && KQuantLaneSearch.IsSupported)
        {
            // Eight sub-blocks per search, bit-identical to the scalar one.
            const int Group = KQuantLaneSearch.Lanes * 16;
            Span<float> xt = stackalloc float[Group];
            for (int g = 0; g < 2; g++)
            {
                KQuantLaneSearch.Transpose(x.Slice(Group * g, Group), 16, KQuantLaneSearch.Lanes, xt);
                KQuantLaneSearch.MakeQxQuants(32, 16, xt, KQuantLaneSearch.Lanes, levels.Slice(Group * g, Group), scales.Slice(8 * g, 8));
            }
        }
        else
        {
            for (int ib = 0; ib < 16; ib++)
            {
                var qw = importance.IsEmpty ? default : importance.Slice(16 * ib, 16);
                scales[ib] = KQuantScaleSearch.MakeQxQuants(32, x.Slice(16 * ib, 16), levels.Slice(16 * ib, 16), qw);
            }
        }
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = scales[ib];
            float absScale = MathF.Abs(scale);
            if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scale; }
        }
        if (maxAbsScale < KQuantScaleSearch.GroupMaxEps)
        {
            block.Clear();
            return;
        }

        float iscale = -128f / maxScale;
        float dAll = StoreHalf(block, DOffset, 1 / iscale);
        var sc = block.Slice(ScalesOffset, 16);
        for (int ib = 0; ib < 16; ib++)
            sc[ib] = (byte)(sbyte)Math.Min(127, KQuantScaleSearch.NearestInt(iscale * scales[ib]));

        // Requantize against the stored scales; a sub-block whose scale is 0 keeps its search levels.
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (sbyte)sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
            {
                int l = Math.Clamp(KQuantScaleSearch.NearestInt(x[16 * j + i] / d), -32, 31);
                levels[16 * j + i] = (sbyte)(l + 32);
            }
        }

        // Per 128 weights: ql holds low nibbles of weights l and l+64 (bytes 0–31) and l+32 and l+96
        // (bytes 32–63); qh holds the four 2-bit high parts of weights l, l+32, l+64, l+96.
        // Levels are 0…63 here, so reading them as bytes loses nothing.
        var u = System.Runtime.InteropServices.MemoryMarshal.Cast<sbyte, byte>(levels);
        var ql = block.Slice(QlOffset, 128);
        var qh = block.Slice(QhOffset, 64);
        for (int j = 0; j < SuperBlockSize; j += 128)
        {
            var qlHalf = ql.Slice(j / 2, 64);
            var qhHalf = qh.Slice(j / 4, 32);
            for (int l = 0; l < 32; l++)
            {
                int q1 = u[j + l] & 0xF, q2 = u[j + l + 32] & 0xF;
                int q3 = u[j + l + 64] & 0xF, q4 = u[j + l + 96] & 0xF;
                qlHalf[l] = (byte)(q1 | (q3 << 4));
                qlHalf[l + 32] = (byte)(q2 | (q4 << 4));
                qhHalf[l] = (byte)((u[j + l] >> 4) | ((u[j + l + 32] >> 4) << 2) | ((u[j + l + 64] >> 4) << 4) | ((u[j + l + 96] >> 4) << 6));
            }
        }
    }
}
