// Row statistics ggml's imatrix paths for the legacy types use to turn importance into per-weight weights.
namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// The weighting ggml applies before its weighted searches for Q4_0/Q4_1/Q5_0/Q5_1:
/// w_j = importance_j · sqrt(σ² + x_j²) with σ² the mean square of the whole row.
/// </summary>
internal static class LegacyRowStats
{
    /// <summary>Σx²/n over the whole row, accumulated in fp32 in index order as ggml does.</summary>
    public static float MeanSquare(ReadOnlySpan<float> row)
    {
        float sum = 0;
        for (int j = 0; j < row.Length; j++) sum += row[j] * row[j];
        return sum / row.Length;
    }

    /// <summary>weight_j = importance_j · sqrt(σ² + x_j²).</summary>
    public static void Weights(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float sigma2, Span<float> weight)
    {
        for (int j = 0; j < x.Length; j++) weight[j] = importance[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }
}
