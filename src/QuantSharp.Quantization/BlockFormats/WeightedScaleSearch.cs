// ggml's importance-weighted scale searches for the legacy block types (make_qx_quants, make_qkx3_quants).
namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// The weighted least-squares searches ggml runs when an importance matrix is given. Each keeps
/// ggml's exact float evaluation order, loop order and strict comparisons, so the chosen scale
/// (and hence every stored byte) is the one llama-quantize picks.
/// </summary>
internal static class WeightedScaleSearch
{
    /// <summary>Blocks whose largest magnitude is below this are treated as all zero (ggml's GROUP_MAX_EPS).</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// Symmetric search (ggml <c>make_qx_quants</c> with rmse_type 1 and explicit weights): levels
    /// l ∈ [−nmax, nmax−1] stored as l + nmax in <paramref name="levels"/>; tries the plain
    /// max-abs scale and 18 perturbations of it, keeping the one maximising (Σwxl)²/Σwl².
    /// Returns the scale (possibly negative, like ggml's).
    /// </summary>
    public static float SymmetricScale(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels)
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
            int l = Math.Max(-nmax, Math.Min(nmax - 1, GgmlScalar.NearestInt(iscale * x[i])));
            levels[i] = (byte)(l + nmax);
            float w = weights[i];
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
                int l = Math.Max(-nmax, Math.Min(nmax - 1, GgmlScalar.NearestInt(iscale * x[i])));
                float w = weights[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                {
                    int l = GgmlScalar.NearestInt(iscale * x[i]);
                    levels[i] = (byte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// Affine search (ggml <c>make_qkx3_quants</c>, squared error): levels in [0, nmax] with
    /// x ≈ scale·l − <paramref name="negMin"/>; tries nstep + 1 grid stretches, each solved as a
    /// weighted 2-parameter least-squares fit (min clamped to ≤ 0), keeping the smallest weighted error.
    /// </summary>
    public static float AffineScale(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        Span<byte> scratch, out float negMin, float rmin, float rdelta, int nstep)
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
            negMin = -min;
            return 0f;
        }

        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = GgmlScalar.NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * levels[i] + min - x[i];
            bestError += weights[i] * (diff * diff);
        }
        if (nstep < 1)
        {
            negMin = -min;
            return scale;
        }

        for (int step = 0; step <= nstep; step++)
        {
            // ggml uses the best min found so far here, not the block's minimum: kept as is.
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, GgmlScalar.NearestInt(iscale * (x[i] - min))));
                scratch[i] = (byte)l;
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
                    float diff = thisScale * scratch[i] + thisMin - x[i];
                    error += weights[i] * (diff * diff);
                }
                if (error < bestError)
                {
                    scratch[..n].CopyTo(levels);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        negMin = -min;
        return scale;
    }
}
