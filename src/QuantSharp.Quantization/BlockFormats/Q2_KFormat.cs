// ggml Q2_K: 2-bit weights in 16-weight sub-blocks with 4-bit scales and mins, fp16 super-scales.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q2_K (84 bytes per 256 weights: scales[16] low nibble scale / high nibble min, qs[64], d, dmin).
/// Without importance this is quantize_row_q2_K_ref; with it, quantize_row_q2_K_impl.
/// </summary>
internal sealed class Q2_KFormat : KQuantFormat, IBlockGrid
{
    private const int ScalesOffset = 0, QsOffset = 16, DOffset = 80, DminOffset = 82;

    /// <inheritdoc/>
    public override DType Type => DType.Q2_K;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeBlock(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float d = ReadHalf(block, DOffset), min = ReadHalf(block, DminOffset);
        int sc = block[ScalesOffset + index / 16];
        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        int l = GridRounding.NearestAffine(value, dl, ml, 0, 3);
        int p = index % 128, shift = 2 * (p / 32);
        ref byte b = ref block[QsOffset + 32 * (index / 128) + (p & 31)];
        b = (byte)((b & ~(3 << shift)) | (l << shift));
        return dl * l - ml;
    }

    /// <inheritdoc/>
    protected override void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance)
    {
        Span<byte> levels = stackalloc byte[SuperBlockSize];
        Span<byte> aux = stackalloc byte[16];
        Span<float> weights = stackalloc float[16];
        Span<float> scales = stackalloc float[16];
        Span<float> mins = stackalloc float[16];
        var packedScales = block.Slice(ScalesOffset, 16);
        float dm, mm;

        if (importance.IsEmpty)
        {
            // Reference: |x| weights, absolute-error search, scales and mins scaled by their maxima.
            float maxScale = 0, maxMin = 0;
            if (KQuantLaneSearch.IsSupported)
            {
                // Eight sub-blocks per search, bit-identical to the scalar one below.
                const int Group = KQuantLaneSearch.Lanes * 16;
                Span<float> xt = stackalloc float[Group];
                Span<float> wt = stackalloc float[Group];
                for (int g = 0; g < 2; g++)
                {
                    KQuantLaneSearch.Transpose(x.Slice(Group * g, Group), 16, KQuantLaneSearch.Lanes, xt);
                    for (int i = 0; i < Group; i++) wt[i] = MathF.Abs(xt[i]);
                    KQuantLaneSearch.MakeQkx2Quants(3, 16, xt, wt, KQuantLaneSearch.Lanes, levels.Slice(Group * g, Group),
                        scales.Slice(8 * g, 8), mins.Slice(8 * g, 8), -0.5f, 0.1f, 15, true);
                }
            }
            else
            {
                for (int j = 0; j < 16; j++)
                {
                    var xs = x.Slice(16 * j, 16);
                    for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(xs[l]);
                    scales[j] = KQuantScaleSearch.MakeQkx2Quants(3, xs, weights, levels.Slice(16 * j, 16), out mins[j], aux, -0.5f, 0.1f, 15, true);
                }
            }
            for (int j = 0; j < 16; j++)
            {
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0)
            {
                float iscale = 15f / maxScale;
                for (int j = 0; j < 16; j++) packedScales[j] = (byte)KQuantScaleSearch.NearestInt(iscale * scales[j]);
                dm = StoreHalf(block, DOffset, maxScale / 15f);
            }
            else
            {
                packedScales.Clear();
                dm = StoreHalf(block, DOffset, 0f);
            }
            if (maxMin > 0)
            {
                float iscale = 15f / maxMin;
                for (int j = 0; j < 16; j++) packedScales[j] = (byte)(packedScales[j] | (KQuantScaleSearch.NearestInt(iscale * mins[j]) << 4));
                mm = StoreHalf(block, DminOffset, maxMin / 15f);
            }
            else
            {
                mm = StoreHalf(block, DminOffset, 0f);
            }
        }
        else
        {
            // imatrix: weights qw·sqrt(σ² + x²) with σ² the block's mean square (not doubled, unlike Q3_K–Q5_K),
            // squared-error search, then the 16 scales and mins themselves quantized by make_qp_quants.
            Span<float> sw = stackalloc float[16];
            Span<byte> ls = stackalloc byte[16];
            Span<byte> lm = stackalloc byte[16];
            float sumx2 = 0;
            for (int j = 0; j < SuperBlockSize; j++) sumx2 += x[j] * x[j];
            float sigma2 = sumx2 / SuperBlockSize;
            for (int j = 0; j < 16; j++)
            {
                var xs = x.Slice(16 * j, 16);
                var qw = importance.Slice(16 * j, 16);
                for (int l = 0; l < 16; l++) weights[l] = qw[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                float sum = 0;
                for (int l = 0; l < 16; l++) sum += weights[l];
                sw[j] = sum;
                scales[j] = KQuantScaleSearch.MakeQkx3Quants(3, xs, weights, levels.Slice(16 * j, 16), out mins[j], aux, -0.9f, 0.05f, 36, false);
            }
            float d = KQuantScaleSearch.MakeQpQuants(15, scales, ls, sw);
            float m = KQuantScaleSearch.MakeQpQuants(15, mins, lm, sw);
            dm = StoreHalf(block, DOffset, d);
            mm = StoreHalf(block, DminOffset, m);
            for (int j = 0; j < 16; j++) packedScales[j] = (byte)(ls[j] | (lm[j] << 4));
        }

        // Requantize against the stored (fp16-rounded, 4-bit) scales; sub-blocks whose scale came out 0
        // keep the levels of their search, as in ggml.
        for (int j = 0; j < 16; j++)
        {
            float d = dm * (packedScales[j] & 0xF);
            if (d == 0) continue;
            float m = mm * (packedScales[j] >> 4);
            for (int i = 0; i < 16; i++)
            {
                int l = KQuantScaleSearch.NearestInt((x[16 * j + i] + m) / d);
                levels[16 * j + i] = (byte)Math.Max(0, Math.Min(3, l));
            }
        }

        var qs = block.Slice(QsOffset, 64);
        for (int j = 0; j < SuperBlockSize; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6));
    }
}
