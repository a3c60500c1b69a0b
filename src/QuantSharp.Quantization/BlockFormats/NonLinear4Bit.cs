// The IQ4 non-linear grid and ggml's per-32-weight scale search shared by IQ4_NL and IQ4_XS.
namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// ggml's quantize_row_iq4_nl_impl, split into the part both IQ4 types share (weights and the
/// per-block scale search over 15 grid stretches) and leaving the super-block scale coding to
/// the types. ggml runs this search for both types with or without an importance matrix
/// (ntry = 7 via ggml_quantize_chunk), so it is the only quantizer here.
/// </summary>
internal static class NonLinear4Bit
{
    /// <summary>Weights per block.</summary>
    public const int BlockSize = 32;

    /// <summary>Grid stretches tried on either side of the max-abs scale (ggml's ntry).</summary>
    private const int Tries = 7;

    /// <summary>kvalues_iq4nl: the 16 levels, sorted, index = stored nibble.</summary>
    public static ReadOnlySpan<sbyte> Values => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>2·Σx²/n over a super-block, accumulated in fp32 in order as ggml does.</summary>
    public static float SigmaSquared(ReadOnlySpan<float> x)
    {
        float sum = 0;
        for (int j = 0; j < x.Length; j++) sum += x[j] * x[j];
        return sum * (2f / x.Length);
    }

    /// <summary>The search weights of one block: x² without importance, importance·sqrt(σ² + x²) with it.</summary>
    public static void Weights(ReadOnlySpan<float> xb, ReadOnlySpan<float> importance, float sigma2, Span<float> weight)
    {
        if (importance.IsEmpty)
        {
            for (int j = 0; j < BlockSize; j++) weight[j] = xb[j] * xb[j];
        }
        else
        {
            for (int j = 0; j < BlockSize; j++) weight[j] = importance[j] * MathF.Sqrt(sigma2 + xb[j] * xb[j]);
        }
    }

    /// <summary>
    /// Best scale for one 32-weight block: starts from max/−127, refines by weighted least squares,
    /// then tries 15 grid stretches keeping the best (Σwqx)²/Σwq². Fills <paramref name="levels"/>
    /// unless the block is all (near) zero, in which case it returns 0 and leaves them untouched,
    /// as ggml does. Weights are x² without importance, importance·sqrt(σ² + x²) with it.
    /// </summary>
    public static float BlockScale(ReadOnlySpan<float> xb, ReadOnlySpan<float> importance, float sigma2, Span<float> weight, Span<byte> levels)
    {
        var values = Values;
        Weights(xb, importance, sigma2, weight);
        float amax = 0, max = 0;
        for (int j = 0; j < BlockSize; j++)
        {
            float ax = MathF.Abs(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        if (amax < WeightedScaleSearch.GroupMaxEps) return 0f;

        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < BlockSize; j++)
        {
            int l = GgmlScalar.BestIndex(values, id * xb[j]);
            levels[j] = (byte)l;
            float q = values[l];
            float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        // Σwq² is 0 when the block's importance is all zero (dead imatrix columns): scale 0, as ggml.
        d = sumq2 > 0 ? sumqx / sumq2 : 0f;
        float best = d * sumqx;
        for (int step = -Tries; step <= Tries; step++)
        {
            id = (step + values[0]) / max;
            sumqx = 0; sumq2 = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                int l = GgmlScalar.BestIndex(values, id * xb[j]);
                float q = values[l];
                float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
            {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        return d;
    }
}
