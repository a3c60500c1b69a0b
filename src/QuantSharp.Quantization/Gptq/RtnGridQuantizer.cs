// Round-to-nearest onto GPTQ's integer grid (per-group min/max scales, fp16-exact): GPTQ without error feedback.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// The baseline GPTQ is compared against: every weight rounded to the nearest point of the same grid
/// GPTQ uses (GPTQ's Quantizer.find_params per row and group: range [min(w,0), max(w,0)], symmetric
/// grids widened to ±max|w| with zero 2^(bits−1), asymmetric zero = round(−min/scale)), but without
/// the error feedback. Scales are rounded to fp16 before the integers are chosen, because the
/// Hugging Face GPTQ format stores fp16 scales: the returned <see cref="GptqLayerResult.Dequantized"/>
/// is then exactly what a loader of the exported file reconstructs. With act-order, groups are
/// formed over columns sorted by decreasing importance (the Hessian diagonal), as GPTQ's desc_act
/// does, so <see cref="GptqLayerResult.GroupIndex"/> is not contiguous; static groups keep
/// contiguous groups. Rows are processed in parallel; results do not depend on the thread count.
/// </summary>
public static class RtnGridQuantizer
{
    /// <summary>Quantizes W [rows, cols] (row-major).</summary>
    /// <param name="weight">Weights; not modified.</param>
    /// <param name="rows">Output features.</param>
    /// <param name="cols">Input features.</param>
    /// <param name="options">Bits, group size, symmetry, act-order, static groups.</param>
    /// <param name="columnImportance">Per-column importance (Hessian diagonal or mean x²), needed for act-order.</param>
    public static GptqLayerResult Quantize(float[] weight, int rows, int cols, GptqOptions options, ReadOnlySpan<double> columnImportance = default)
    {
        Check(weight, rows, cols, options);
        var deq = new float[(long)rows * cols];
        var q = new int[(long)rows * cols];
        var (scales, zeros, groupIndex) = Round(weight, rows, cols, options, columnImportance, q, deq);
        return new GptqLayerResult
        {
            Rows = rows, Cols = cols, Bits = options.Bits, GroupSize = options.GroupSize,
            QuantizedValues = q, Scales = scales, Zeros = zeros, GroupIndex = groupIndex, Dequantized = deq,
        };
    }

    /// <summary>
    /// <see cref="GptqLayerResult.Dequantized"/> of <see cref="Quantize"/> written into <paramref name="dequantized"/>
    /// (rows·cols values), without the integer matrix: for a search (AWQ) that rounds many candidates and keeps none.
    /// </summary>
    public static void RoundTrip(float[] weight, int rows, int cols, GptqOptions options, float[] dequantized, ReadOnlySpan<double> columnImportance = default)
    {
        Check(weight, rows, cols, options);
        if (dequantized.Length != (long)rows * cols) throw new ArgumentException($"{dequantized.Length} destination values for [{rows}, {cols}]");
        Round(weight, rows, cols, options, columnImportance, null, dequantized);
    }

    /// <summary>The rounding itself: the integers into <paramref name="q"/> when given, the dequantized values into <paramref name="deq"/>.</summary>
    private static (float[] Scales, int[] Zeros, int[] GroupIndex) Round(float[] weight, int rows, int cols, GptqOptions options,
        ReadOnlySpan<double> columnImportance, int[]? q, float[] deq)
    {
        int gs = options.GroupSize == 0 ? cols : Math.Min(options.GroupSize, cols);
        int groups = (cols + gs - 1) / gs;
        var groupIndex = new int[cols];
        // order[i] = the column at sorted position i; groups are runs of gs positions.
        var order = new int[cols];
        for (int c = 0; c < cols; c++) order[c] = c;
        if (options.ActOrder)
        {
            if (columnImportance.Length != cols)
                throw new ArgumentException($"act-order needs the importance of all {cols} columns, got {columnImportance.Length}");
            var imp = columnImportance.ToArray();
            // Decreasing importance; ties keep column order (deterministic).
            Array.Sort(order, (a, b) => imp[a] != imp[b] ? imp[b].CompareTo(imp[a]) : a.CompareTo(b));
        }
        bool permutedGroups = options.ActOrder && !options.StaticGroups;
        for (int i = 0; i < cols; i++)
        {
            int c = order[i];
            groupIndex[c] = permutedGroups ? i / gs : c / gs;
        }
        // Members of each group, in column order.
        var members = new List<int>[groups];
        for (int g = 0; g < groups; g++) members[g] = new List<int>(gs);
        for (int c = 0; c < cols; c++) members[groupIndex[c]].Add(c);

        int maxq = (1 << options.Bits) - 1;
        var scales = new float[(long)groups * rows];
        var zeros = new int[(long)groups * rows];
        var w = weight;
        bool sym = options.Symmetric;
        ScopedParallel.For(0, rows, r =>
        {
            var row = w.AsSpan(r * cols, cols);
            for (int g = 0; g < groups; g++)
            {
                var cs = members[g];
                float xmin = 0, xmax = 0;
                foreach (int c in cs) { xmin = Math.Min(xmin, row[c]); xmax = Math.Max(xmax, row[c]); }
                if (sym)
                {
                    xmax = Math.Max(Math.Abs(xmin), xmax);
                    if (xmin < 0) xmin = -xmax;
                }
                if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
                float scale = Fp16Scale((xmax - xmin) / maxq);
                int zero = sym ? (maxq + 1) / 2 : (int)Math.Clamp(MathF.Round(-xmin / scale), 0, maxq);
                scales[(long)g * rows + r] = scale;
                zeros[(long)g * rows + r] = zero;
                foreach (int c in cs)
                {
                    int v = (int)Math.Clamp(MathF.Round(row[c] / scale) + zero, 0, maxq);
                    if (q != null) q[(long)r * cols + c] = v;
                    deq[(long)r * cols + c] = scale * (v - zero);
                }
            }
        });
        return (scales, zeros, groupIndex);
    }

    private static void Check(float[] weight, int rows, int cols, GptqOptions options)
    {
        options.Validate();
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"weight shape [{rows}, {cols}] is empty");
        if (weight.Length != (long)rows * cols) throw new ArgumentException($"{weight.Length} weights do not fill [{rows}, {cols}]");
    }

    /// <summary>
    /// <paramref name="scale"/> rounded to the nearest fp16 value (as the checkpoint stores it); a
    /// scale that would round to zero becomes the smallest positive fp16 so no division by zero occurs.
    /// </summary>
    public static float Fp16Scale(float scale)
    {
        float s = (float)(Half)scale;
        return s > 0 ? s : (float)Half.Epsilon;
    }
}
