// The part Q4_K and Q5_K share: eight 32-weight sub-blocks with 6-bit scales and mins under fp16 d and dmin.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q4_K / Q5_K scale search (quantize_row_q{4,5}_K_ref and _impl): per sub-block an asymmetric
/// make_qkx2_quants (reference, weights sqrt(mean x²) + |x|) or make_qkx3_quants (imatrix, weights
/// qw·sqrt(2σ² + x²)); the eight scales and mins are then quantized to 6 bits, by their maxima
/// (reference) or by make_qp_quants (imatrix). Block starts with d, dmin, scales[12].
/// </summary>
internal abstract class ScaleMinKQuantFormat : KQuantFormat
{
    private const int DOffset = 0, DminOffset = 2, ScalesOffset = 4;

    /// <summary>Largest level (15 for Q4_K, 31 for Q5_K).</summary>
    protected abstract int MaxLevel { get; }

    /// <summary>make_qkx2_quants's rmin, rdelta, nstep in the reference quantizer.</summary>
    protected abstract (float Rmin, float Rdelta, int Nstep) ReferenceSearch { get; }

    /// <summary>
    /// Whether the imatrix path clamps make_qp_quants' levels to 63 before packing (Q5_K does,
    /// Q4_K does not: a wrapped level packs differently, so this is kept as ggml has it).
    /// </summary>
    protected abstract bool ClampImatrixScaleLevels { get; }

    /// <summary>Writes the 256 levels (0…MaxLevel) into the block's quant bytes.</summary>
    protected abstract void PackLevels(ReadOnlySpan<byte> levels, Span<byte> block);

    /// <inheritdoc/>
    protected sealed override void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance)
    {
        int nmax = MaxLevel;
        Span<byte> levels = stackalloc byte[SuperBlockSize];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        var packed = block.Slice(ScalesOffset, 12);
        float dAll, mAll;

        if (importance.IsEmpty)
        {
            var (rmin, rdelta, nstep) = ReferenceSearch;
            float maxScale = 0, maxMin = 0;
            bool lanes = KQuantLaneSearch.IsSupported;
            Span<float> allWeights = lanes ? stackalloc float[SuperBlockSize] : default;
            for (int j = 0; j < 8; j++)
            {
                var xs = x.Slice(32 * j, 32);
                float sumX2 = 0;
                for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
                float avX = MathF.Sqrt(sumX2 / 32);
                var ws = lanes ? allWeights.Slice(32 * j, 32) : weights;
                for (int l = 0; l < 32; l++) ws[l] = avX + MathF.Abs(xs[l]);
                if (!lanes)
                    scales[j] = KQuantScaleSearch.MakeQkx2Quants(nmax, xs, weights, levels.Slice(32 * j, 32), out mins[j], aux, rmin, rdelta, nstep, false);
            }
            if (lanes)
            {
                // All eight sub-blocks in one search, bit-identical to the scalar one.
                Span<float> xt = stackalloc float[SuperBlockSize];
                Span<float> wt = stackalloc float[SuperBlockSize];
                KQuantLaneSearch.Transpose(x, 32, 8, xt);
                KQuantLaneSearch.Transpose(allWeights, 32, 8, wt);
                KQuantLaneSearch.MakeQkx2Quants(nmax, 32, xt, wt, 8, levels, scales, mins, rmin, rdelta, nstep, false);
            }
            for (int j = 0; j < 8; j++)
            {
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                // ggml narrows to uint8_t before the MIN, so keep that order.
                byte ls = (byte)KQuantScaleSearch.NearestInt(invScale * scales[j]);
                byte lm = (byte)KQuantScaleSearch.NearestInt(invMin * mins[j]);
                KQuantScaleMinPacking.Pack(packed, j, Math.Min((byte)63, ls), Math.Min((byte)63, lm));
            }
            dAll = StoreHalf(block, DOffset, maxScale / 63f);
            mAll = StoreHalf(block, DminOffset, maxMin / 63f);
        }
        else
        {
            Span<float> sw = stackalloc float[8];
            Span<byte> ls = stackalloc byte[8];
            Span<byte> lm = stackalloc byte[8];
            float sumX2 = 0;
            for (int l = 0; l < SuperBlockSize; l++) sumX2 += x[l] * x[l];
            float sigma2 = 2 * sumX2 / SuperBlockSize;
            for (int j = 0; j < 8; j++)
            {
                var xs = x.Slice(32 * j, 32);
                var qw = importance.Slice(32 * j, 32);
                for (int l = 0; l < 32; l++) weights[l] = qw[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                float sumw = 0;
                for (int l = 0; l < 32; l++) sumw += weights[l];
                sw[j] = sumw;
                scales[j] = KQuantScaleSearch.MakeQkx3Quants(nmax, xs, weights, levels.Slice(32 * j, 32), out mins[j], aux, -0.9f, 0.05f, 36, false);
            }
            float dBlock = KQuantScaleSearch.MakeQpQuants(63, scales, ls, sw);
            float mBlock = KQuantScaleSearch.MakeQpQuants(63, mins, lm, sw);
            bool clamp = ClampImatrixScaleLevels;
            for (int j = 0; j < 8; j++)
            {
                byte s = clamp ? Math.Min((byte)63, ls[j]) : ls[j];
                byte m = clamp ? Math.Min((byte)63, lm[j]) : lm[j];
                KQuantScaleMinPacking.Pack(packed, j, s, m);
            }
            dAll = StoreHalf(block, DOffset, dBlock);
            mAll = StoreHalf(block, DminOffset, mBlock);
        }

        // Requantize against the stored scales; a sub-block whose scale is 0 keeps its search levels.
        for (int j = 0; j < 8; j++)
        {
            KQuantScaleMinPacking.Unpack(packed, j, out byte sc, out byte m);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = mAll * m;
            for (int i = 0; i < 32; i++)
            {
                int l = KQuantScaleSearch.NearestInt((x[32 * j + i] + dm) / d);
                levels[32 * j + i] = (byte)Math.Max(0, Math.Min(nmax, l));
            }
        }
        PackLevels(levels, block);
    }
}
