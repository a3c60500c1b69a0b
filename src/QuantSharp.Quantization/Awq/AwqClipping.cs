// AWQ's weight clipping search (AutoAWQ's auto_clip) as a pure function over one linear and its inputs.
using System.Numerics.Tensors;
using QuantSharp.Core.Kernels;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Quantization.Awq;

/// <summary>
/// After scaling, each (output row, group) of a linear may round better with a range smaller than its max |w|: the
/// search tries max|w|·(1 − i/grid) for i &lt; maxShrink·grid, clamps the group to ±that, rounds the whole matrix with the
/// target grid and keeps, per (row, group), the range whose output error over the calibration inputs is smallest.
/// The error of a group is E[(x_g·(q − w))²] = (q − w)ᵀ·G_g·(q − w)/T with G_g = Σ_t x_g,t x_g,tᵀ the group's Gram
/// matrix — the same objective as AutoAWQ's per-token outputs, computed from all calibration tokens (AutoAWQ samples 512
/// to bound GPU memory). i = 0 is the unclipped range, so the result never rounds worse than no clipping on this
/// objective. Rows and groups are independent jobs with fixed summation order: deterministic for any thread count.
/// </summary>
public static class AwqClipping
{
    /// <summary>
    /// The best clipping maximum per (row, group), [rows · groups] row-major, for <paramref name="w"/> reading
    /// <paramref name="x"/> [tokens, cols]; <paramref name="roundTrip"/> rounds a whole [rows, cols] matrix onto the target
    /// grid, writing the dequantized values into its second argument (both buffers are allocated once per call and reused
    /// for every candidate range); <paramref name="groupSize"/> is the grid's group (a divisor of cols).
    /// </summary>
    public static float[] SearchMaxima(FloatMatrix w, float[] x, int tokens, int groupSize, Action<float[], float[]> roundTrip,
        int grid, double maxShrink)
    {
        int rows = w.Rows, cols = w.Cols, gs = groupSize;
        if (gs <= 0 || cols % gs != 0) throw new ArgumentException($"tensor '{w.Name}': clipping group {gs} does not divide {cols} columns");
        if (x.Length != (long)tokens * cols) throw new ArgumentException($"tensor '{w.Name}': {x.Length} inputs do not fill {tokens} tokens of width {cols}");
        return SearchMaxima(w, GroupGram(x, tokens, cols, gs), groupSize, roundTrip, grid, maxShrink);
    }

    /// <summary>
    /// <see cref="SearchMaxima(FloatMatrix, float[], int, int, Action{float[], float[]}, int, double)"/> from the inputs'
    /// group Gram matrices (<see cref="AddGroupGram"/> over every token, then <see cref="FinishGroupGram"/>) instead of the
    /// inputs: the caller may stream the tokens chunk by chunk.
    /// </summary>
    /// <param name="w">The linear (after scaling), [rows, cols].</param>
    /// <param name="gram">The inputs' group Gram matrices, [cols / groupSize, groupSize, groupSize].</param>
    /// <param name="groupSize">The grid's group (a divisor of cols).</param>
    /// <param name="roundTrip">Rounds a whole [rows, cols] matrix onto the target grid into its second argument.</param>
    /// <param name="grid">Steps of the shrink factor (the range tried is max|w|·(1 − i/grid)).</param>
    /// <param name="maxShrink">The largest shrink tried.</param>
    /// <param name="clamped">Scratch of w's size for the clamped candidate (null: allocated here).</param>
    /// <param name="rounded">Scratch of w's size for its rounding (null: allocated here).</param>
    public static float[] SearchMaxima(FloatMatrix w, float[] gram, int groupSize, Action<float[], float[]> roundTrip, int grid, double maxShrink,
        float[]? clamped = null, float[]? rounded = null)
    {
        int rows = w.Rows, cols = w.Cols, gs = groupSize;
        if (gs <= 0 || cols % gs != 0) throw new ArgumentException($"tensor '{w.Name}': clipping group {gs} does not divide {cols} columns");
        if (gram.Length != (long)cols * gs) throw new ArgumentException($"tensor '{w.Name}': a Gram of {gram.Length} floats for {cols / gs} groups of {gs} columns");
        int groups = cols / gs;
        var orgMax = new float[rows * groups];
        for (int r = 0; r < rows; r++)
        {
            var row = w.Row(r);
            for (int g = 0; g < groups; g++) orgMax[r * groups + g] = Math.Abs(TensorPrimitives.MaxMagnitude(row.Slice(g * gs, gs)));
        }
        var bestMax = (float[])orgMax.Clone();
        var bestErr = new double[rows * groups];
        bestErr.AsSpan().Fill(double.PositiveInfinity);
        int steps = Math.Max(1, (int)(maxShrink * grid));
        clamped ??= new float[w.Values.Length];
        var q = rounded ?? new float[w.Values.Length];
        if (clamped.Length != w.Values.Length || q.Length != w.Values.Length)
            throw new ArgumentException($"tensor '{w.Name}': scratch of {clamped.Length} and {q.Length} floats for {w.Values.Length} weights");
        var values = w.Values;
        for (int i = 0; i < steps; i++)
        {
            float factor = (float)(1 - (double)i / grid);
            ScopedParallel.For(0, rows, r =>
            {
                for (int g = 0; g < groups; g++)
                {
                    float m = orgMax[r * groups + g] * factor;
                    TensorPrimitives.Clamp(values.AsSpan(r * cols + g * gs, gs), -m, m, clamped.AsSpan(r * cols + g * gs, gs));
                }
            });
            roundTrip(clamped, q);
            ScopedParallel.For(0, rows, () => (new float[gs], new float[gs]), (r, scratch) =>
            {
                var (d, gd) = scratch;
                for (int g = 0; g < groups; g++)
                {
                    // d = q − w against the original (unclipped) weights, as AutoAWQ compares with the original output.
                    TensorPrimitives.Subtract(q.AsSpan(r * cols + g * gs, gs), values.AsSpan(r * cols + g * gs, gs), d);
                    var gg = gram.AsSpan(g * gs * gs, gs * gs);
                    for (int a = 0; a < gs; a++) gd[a] = TensorPrimitives.Dot(gg.Slice(a * gs, gs), d);
                    double err = 0;
                    for (int a = 0; a < gs; a++) err += (double)d[a] * gd[a];
                    int k = r * groups + g;
                    if (err < bestErr[k])
                    {
                        bestErr[k] = err;
                        bestMax[k] = orgMax[k] * factor;
                    }
                }
            });
        }
        return bestMax;
    }

    /// <summary>Clamps each (row, group) of <paramref name="w"/> to ±<paramref name="maxima"/>[row · groups + group].</summary>
    public static void Apply(FloatMatrix w, ReadOnlySpan<float> maxima, int groupSize)
    {
        int groups = w.Cols / groupSize;
        if (maxima.Length != w.Rows * groups) throw new ArgumentException($"tensor '{w.Name}': {maxima.Length} maxima for {w.Rows}×{groups} groups");
        for (int r = 0; r < w.Rows; r++)
            for (int g = 0; g < groups; g++)
            {
                var s = w.Row(r).Slice(g * groupSize, groupSize);
                TensorPrimitives.Clamp(s, -maxima[r * groups + g], maxima[r * groups + g], s);
            }
    }

    /// <summary>Σ_t x_g,t x_g,tᵀ / tokens for each group g of columns: [groups, gs, gs], accumulated token by token in fp32 (enough to rank clipping ranges).</summary>
    internal static float[] GroupGram(float[] x, int tokens, int cols, int gs)
    {
        var gram = new float[(long)cols * gs];
        AddGroupGram(x, tokens, cols, gs, gram);
        FinishGroupGram(gram, tokens);
        return gram;
    }

    /// <summary>
    /// <paramref name="gram"/> [groups, gs, gs] += Σ_t x_g,t x_g,tᵀ over the first <paramref name="tokens"/> rows of
    /// <paramref name="x"/> [rows, cols], token by token in fp32: calls on consecutive chunks of tokens add up to exactly
    /// what one call on all of them gives (same order per group).
    /// </summary>
    public static void AddGroupGram(float[] x, int tokens, int cols, int gs, float[] gram)
    {
        if (gs <= 0 || cols % gs != 0) throw new ArgumentException($"clipping group {gs} does not divide {cols} columns");
        if (gram.Length != (long)cols * gs) throw new ArgumentException($"a Gram of {gram.Length} floats for {cols / gs} groups of {gs} columns");
        if (x.Length < (long)tokens * cols) throw new ArgumentException($"{x.Length} inputs do not fill {tokens} tokens of width {cols}");
        ScopedParallel.For(0, cols / gs, g =>
        {
            var acc = gram.AsSpan(g * gs * gs, gs * gs);
            for (int t = 0; t < tokens; t++)
            {
                var v = new ReadOnlySpan<float>(x, t * cols + g * gs, gs);
                for (int a = 0; a < gs; a++)
                    if (v[a] != 0) TensorPrimitives.MultiplyAdd(v, v[a], acc.Slice(a * gs, gs), acc.Slice(a * gs, gs));
            }
        });
    }

    /// <summary>Divides the sums of <see cref="AddGroupGram"/> by the number of tokens they cover.</summary>
    public static void FinishGroupGram(float[] gram, int tokens) => TensorPrimitives.Divide(gram, tokens, gram);
}
