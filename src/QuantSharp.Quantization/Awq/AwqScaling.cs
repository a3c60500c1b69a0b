// AWQ's per-input-channel scales as pure functions: activation statistics, the scale formula, and folding them away.
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Quantization.Awq;

/// <summary>
/// The math of AWQ's scaling (Lin et al. 2023, AutoAWQ): a linear group reading x computes x·Wᵀ = (x/s)·(W·diag(s))ᵀ for
/// any positive s per input channel, so scaling the salient channels (large mean |x|) up before rounding protects them,
/// and 1/s folds into whatever produced x — the RMSNorm's γ or the rows of the previous linear. Every function is
/// deterministic (fixed summation order in double).
/// </summary>
public static class AwqScaling
{
    /// <summary>Mean |x| of each of <paramref name="width"/> columns over <paramref name="rows"/> rows.</summary>
    public static double[] MeanAbsolute(ReadOnlySpan<float> x, int rows, int width)
    {
        var sum = new double[width];
        AddAbsolute(x, rows, sum);
        for (int j = 0; j < width; j++) sum[j] /= rows;
        return sum;
    }

    /// <summary>
    /// <paramref name="sum"/>[j] += Σ_r |x[r, j]| over <paramref name="rows"/> rows of width sum.Length, row by row: calls
    /// on consecutive chunks of rows add up to exactly <see cref="MeanAbsolute"/>'s sums (same order).
    /// </summary>
    public static void AddAbsolute(ReadOnlySpan<float> x, int rows, Span<double> sum)
    {
        int width = sum.Length;
        if (x.Length < (long)rows * width) throw new ArgumentException($"{x.Length} values do not fill {rows} rows of width {width}");
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * width, width);
            for (int j = 0; j < width; j++) sum[j] += Math.Abs(row[j]);
        }
    }

    /// <summary>
    /// AutoAWQ's w_mean: each weight divided by the largest |w| of its (row, group) (+1e-6), then averaged per column over
    /// the rows of all <paramref name="linears"/> (which share their input). <paramref name="groupSize"/> 0: whole rows.
    /// </summary>
    public static double[] NormalizedWeightMean(IReadOnlyList<FloatMatrix> linears, int groupSize)
    {
        int cols = linears[0].Cols;
        int gs = groupSize <= 0 || cols % groupSize != 0 ? cols : groupSize;
        var sum = new double[cols];
        long rows = 0;
        foreach (var w in linears)
        {
            for (int r = 0; r < w.Rows; r++)
            {
                var row = w.Row(r);
                for (int g = 0; g < cols; g += gs)
                {
                    float max = 0;
                    for (int j = g; j < g + gs; j++) max = Math.Max(max, Math.Abs(row[j]));
                    double d = max + 1e-6;
                    for (int j = g; j < g + gs; j++) sum[j] += Math.Abs(row[j]) / d;
                }
            }
            rows += w.Rows;
        }
        for (int j = 0; j < cols; j++) sum[j] /= rows;
        return sum;
    }

    /// <summary>
    /// The scales of exponent <paramref name="alpha"/>: s = max(mean|x|^α, 1e-4) — or, with <paramref name="weightMean"/>,
    /// max(mean|x|^α / (w_mean^(1−α) + 1e-4), 1e-4) — divided by √(max s · min s) so that the scales straddle 1 (the
    /// folded norm and the weights keep their magnitude); a non-finite scale becomes 1.
    /// </summary>
    public static void Scales(ReadOnlySpan<double> activationMean, ReadOnlySpan<double> weightMean, double alpha, Span<float> scales)
    {
        int n = activationMean.Length;
        if (scales.Length != n || (!weightMean.IsEmpty && weightMean.Length != n))
            throw new ArgumentException($"{n} activation means, {weightMean.Length} weight means and {scales.Length} scales do not match");
        var v = new double[n];
        double max = double.NegativeInfinity, min = double.PositiveInfinity;
        for (int j = 0; j < n; j++)
        {
            double s = Math.Pow(activationMean[j], alpha);
            if (!weightMean.IsEmpty) s /= Math.Pow(weightMean[j], 1 - alpha) + 1e-4;
            v[j] = s = Math.Max(s, 1e-4);
            max = Math.Max(max, s);
            min = Math.Min(min, s);
        }
        double norm = Math.Sqrt(max * min);
        for (int j = 0; j < n; j++)
        {
            float s = (float)(v[j] / norm);
            scales[j] = float.IsFinite(s) && s > 0 ? s : 1f;
        }
    }

    /// <summary>The readers' side of the fold: W ← W·diag(<paramref name="scales"/>) for each linear reading the scaled channels.</summary>
    public static void ScaleColumns(IEnumerable<FloatMatrix> readers, ReadOnlySpan<float> scales)
    {
        foreach (var w in readers)
        {
            if (w.Cols != scales.Length) throw new ArgumentException($"tensor '{w.Name}' reads {w.Cols} features but there are {scales.Length} scales");
            RmsNormFolding.ScaleColumns(w, scales);
        }
    }

    /// <summary>The producer's side of the fold for a norm (or a bias): v ← v / <paramref name="scales"/>.</summary>
    public static void Divide(Span<float> values, ReadOnlySpan<float> scales)
    {
        if (values.Length != scales.Length) throw new ArgumentException($"{values.Length} values but {scales.Length} scales");
        for (int j = 0; j < values.Length; j++) values[j] /= scales[j];
    }

    /// <summary>The producer's side of the fold for a linear: row r of <paramref name="w"/> ← row r / scales[r].</summary>
    public static void DivideRows(FloatMatrix w, ReadOnlySpan<float> scales)
    {
        if (w.Rows != scales.Length) throw new ArgumentException($"tensor '{w.Name}' writes {w.Rows} features but there are {scales.Length} scales");
        for (int r = 0; r < w.Rows; r++)
        {
            var row = w.Row(r);
            float inv = scales[r];
            for (int j = 0; j < row.Length; j++) row[j] /= inv;
        }
    }

    /// <summary>Σ (a − b)² / n: the mean squared error AutoAWQ minimises.</summary>
    public static double MeanSquaredError(ReadOnlySpan<float> reference, ReadOnlySpan<float> candidate)
        => AddSquaredError(reference, candidate, 0) / reference.Length;

    /// <summary>
    /// <paramref name="sum"/> + Σ (a − b)², added element by element onto the running sum: calls on consecutive chunks of
    /// tokens give exactly the sum of <see cref="MeanSquaredError"/> over all of them (same order, one double).
    /// </summary>
    public static double AddSquaredError(ReadOnlySpan<float> reference, ReadOnlySpan<float> candidate, double sum)
    {
        if (reference.Length != candidate.Length) throw new ArgumentException($"{reference.Length} reference values but {candidate.Length} candidates");
        for (int i = 0; i < reference.Length; i++)
        {
            double d = (double)reference[i] - candidate[i];
            sum += d * d;
        }
        return sum;
    }
}
