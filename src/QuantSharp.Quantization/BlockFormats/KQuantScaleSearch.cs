// The scale (and min) searches the k-quant formats share: C# ports of ggml-quants.c's nearest_int,
// make_qx_quants, make_q3_quants, make_qkx2_quants, make_qkx3_quants and make_qp_quants.
using System.Runtime.CompilerServices;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Searches for the scale (and, for the asymmetric formats, the min) of a small group of weights.
/// Every operation is single-precision and in ggml's order, because the files must be byte-identical
/// to llama-quantize's: a reordered sum or a double accumulation flips the occasional rounding and
/// with it a whole search. Quant levels are written to the caller's span, as ggml does.
/// </summary>
internal static class KQuantScaleSearch
{
    /// <summary>ggml's GROUP_MAX_EPS: groups whose largest magnitude is below this count as all zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// ggml's nearest_int: adds 1.5·2^23 so the float adder rounds half to even, then reads the
    /// integer from the mantissa bits. Out-of-range inputs give the same garbage ggml gets, which is
    /// what keeps the searches identical even there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float value)
    {
        float biased = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(biased) & 0x007fffff) - 0x00400000;
    }

    /// <summary>
    /// make_qx_quants with rmse_type 1: symmetric levels in [0, 2·nmax) (stored offset by nmax), scale
    /// chosen among 19 candidate reciprocals by weighted least squares. Weights are
    /// <paramref name="qw"/> when given, otherwise x².
    /// </summary>
    public static float MakeQxQuants(int nmax, ReadOnlySpan<float> x, Span<sbyte> levels, ReadOnlySpan<float> qw)
    {
        int n = x.Length;
        bool weighted = !qw.IsEmpty;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)(l + nmax);
            float w = weighted ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = 0; suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = weighted ? qw[i] : x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                    levels[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// make_q3_quants with do_rmse: symmetric levels (stored offset by nmax) refined one weight at a
    /// time, up to five sweeps, under x² weights.
    /// </summary>
    public static float MakeQ3Quants(int nmax, ReadOnlySpan<float> x, Span<sbyte> levels)
    {
        int n = x.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * levels[i];
                if (slx > 0)
                {
                    float sl2 = suml2 - w * levels[i] * levels[i];
                    int newL = Math.Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (newL != levels[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = (sbyte)newL; sumlx = slx; suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) levels[i] = (sbyte)(levels[i] + nmax);
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// make_qkx2_quants: asymmetric levels in [0, nmax] with a min ≤ 0 (returned negated in
    /// <paramref name="theMin"/>); tries nstep+1 candidate ranges and solves weighted least squares
    /// for scale and min at each, keeping the smallest weighted error (absolute or squared).
    /// </summary>
    public static float MakeQkx2Quants(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            levels[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * levels[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                aux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    error += weights[i] * diff;
                }
                if (error < bestError)
                {
                    aux[..n].CopyTo(levels);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// make_qkx3_quants (the imatrix variant of <see cref="MakeQkx2Quants"/>): the same search, but the
    /// candidate levels are clamped before rounding, because the running min can sit at or past max.
    /// </summary>
    public static float MakeQkx3Quants(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max <= min)
        {
            levels[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * levels[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestMad += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                float v = iscale * (x[i] - min);
                int l = v > 0 ? NearestInt(v < nmax ? v : nmax) : 0;
                aux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    mad += weights[i] * diff;
                }
                if (mad < bestMad)
                {
                    aux[..n].CopyTo(levels);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// make_qp_quants: quantizes non-negative values (the sub-block scales or mins of a super-block)
    /// to [0, nmax] under <paramref name="quantWeights"/>, trying 8 nearby scales then refining levels.
    /// Levels are stored as bytes exactly as ggml's uint8_t array, wrap-around included.
    /// </summary>
    public static float MakeQpQuants(int nmax, ReadOnlySpan<float> x, Span<byte> levels, ReadOnlySpan<float> quantWeights)
    {
        int n = x.Length;
        float max = 0;
        for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
        if (max < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; i++) levels[i] = (byte)NearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; i++)
        {
            float diff = x[i] - scale * levels[i];
            bestMse += quantWeights[i] * diff * diff;
        }
        for (int step = -4; step <= 4; step++)
        {
            if (step == 0) continue;
            float iscaleStep = (0.1f * step + nmax) / max;
            float scaleStep = 1 / iscaleStep;
            float mse = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, NearestInt(iscaleStep * x[i]));
                float diff = x[i] - scaleStep * l;
                mse += quantWeights[i] * diff * diff;
            }
            if (mse < bestMse)
            {
                bestMse = mse;
                iscale = iscaleStep;
            }
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, NearestInt(iscale * x[i]));
            levels[i] = (byte)l;
            float w = quantWeights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = quantWeights[i];
                float slx = sumlx - w * x[i] * levels[i];
                float sl2 = suml2 - w * levels[i] * levels[i];
                if (slx > 0 && sl2 > 0)
                {
                    int newL = Math.Min(nmax, NearestInt(x[i] * sl2 / slx));
                    if (newL != levels[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = (byte)newL; sumlx = slx; suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }
}
