// Property tests (CsCheck): dequantize(quantize(x)) stays within every grid's documented error bound, on random and real tensors.
using CsCheck;
using QuantSharp.Quantization.Grids;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Quantization.Grids;

/// <summary>
/// For every grid configuration, on random tensors of every <see cref="GridTensorData.Kinds"/> kind
/// and on rows of sotu-llama-30m: (1) each value's error is within the grid's own
/// <see cref="IQuantizationGrid.ErrorBound"/>; (2) for ordinary magnitudes, within the closed form of
/// docs/quantization-grids.md recomputed here from the group's values alone (independent of the
/// stored scale): integer min/max s/2, NF4 0.1519·absmax, FP8 half an ulp of x/s, FP4/MXFP4
/// max(unit/4, |x|/4), MXFP4's scale exactly 2^(⌊log2 amax⌋ − 2); MSE clipping never worse than
/// min/max in Σ|err|^2.4 per group.
/// </summary>
public sealed class GridErrorBoundTests(ITestOutputHelper output)
{
    /// <summary>Every configuration under test, by name.</summary>
    public static readonly IReadOnlyDictionary<string, IQuantizationGrid> Grids = BuildGrids();

    public static TheoryData<string> GridNames => new(Grids.Keys);

    private static Dictionary<string, IQuantizationGrid> BuildGrids()
    {
        var list = new List<IQuantizationGrid>();
        GridGrouping[] groupings = [GridGrouping.PerTensor, GridGrouping.PerChannel, GridGrouping.PerGroup(32), GridGrouping.PerGroup(7), GridGrouping.PerGroup(128)];
        for (int bits = 2; bits <= 8; bits++)
            foreach (bool sym in new[] { true, false })
                foreach (var g in groupings)
                    list.Add(new IntegerGrid(bits, sym, g));
        foreach (int bits in new[] { 2, 3, 4, 8 })
            foreach (bool sym in new[] { true, false })
                foreach (var g in new[] { GridGrouping.PerChannel, GridGrouping.PerGroup(32) })
                    list.Add(new IntegerGrid(bits, sym, g, MseClippingSearch.Default));
        foreach (var g in new[] { GridGrouping.PerGroup(64), GridGrouping.PerChannel, GridGrouping.PerGroup(5) }) list.Add(new Nf4Grid(g));
        foreach (var f in new[] { MiniFloat.E4M3, MiniFloat.E5M2 })
            foreach (var g in new[] { GridGrouping.PerTensor, GridGrouping.PerChannel, GridGrouping.PerGroup(32) })
                list.Add(new Fp8Grid(f, g));
        foreach (var g in new[] { GridGrouping.PerGroup(16), GridGrouping.PerGroup(32), GridGrouping.PerChannel }) list.Add(new Fp4Grid(g));
        list.Add(new MxFp4Grid());
        return list.ToDictionary(g => g.Name);
    }

    [Theory, MemberData(nameof(GridNames))]
    public void Random_tensors_stay_within_the_bound(string grid)
    {
        var g = Grids[grid];
        int iter = g is IntegerGrid { MseClipping: not null } ? 60 : 150;
        GridTensorData.Random().Sample(t => Check(g, t), iter: iter);
    }

    [Fact]
    [Trait("Category", "RealModel")]
    public void Real_weight_rows_stay_within_the_bound()
    {
        var tensors = GridTensorData.Real().ToList();
        foreach (var (name, g) in Grids)
        {
            double sq = 0, ref2 = 0, worst = 0;
            foreach (var t in tensors)
            {
                var (err2, x2, worstRatio) = Check(g, t);
                sq += err2;
                ref2 += x2;
                worst = Math.Max(worst, worstRatio);
            }
            output.WriteLine($"{name,-28} relative RMSE {Math.Sqrt(sq / ref2):F5}, worst error/bound {worst:F3}");
        }
    }

    /// <summary>Runs all checks on one tensor; returns Σerr², Σx² and the worst error/bound ratio.</summary>
    private static (double Err2, double X2, double Worst) Check(IQuantizationGrid grid, TestTensor t)
    {
        var q = grid.Quantize(t.Values, t.Rows, t.Columns);
        var y = new float[t.Values.Length];
        grid.Dequantize(q, y);
        foreach (byte c in q.Codes) if (c >= 1 << grid.CodeBits) Assert.Fail($"{grid.Name}: code {c} has more than {grid.CodeBits} bits");
        double err2 = 0, x2 = 0, worst = 0;
        bool ordinary = GridTensorData.IsOrdinary(t.Name) || t.Name.StartsWith("sotu", StringComparison.Ordinal);
        var groups = GroupMembers(q);
        for (int g = 0; g < groups.Count; g++)
        {
            var members = groups[g];
            double amax = 0, min = 0, max = 0;
            foreach (int i in members)
            {
                amax = Math.Max(amax, Math.Abs(t.Values[i]));
                min = Math.Min(min, t.Values[i]);
                max = Math.Max(max, t.Values[i]);
            }
            float scale = q.Scales[g];
            byte zero = q.Zeros?[g] ?? 0;
            foreach (int i in members)
            {
                float x = t.Values[i];
                double e = Math.Abs((double)x - y[i]);
                err2 += e * e;
                x2 += (double)x * x;
                double own = grid.ErrorBound(x, scale, zero);
                if (!(e <= own)) Assert.Fail($"{grid.Name} on {t}: value {i} = {x:R} → {y[i]:R}, error {e:G6} > own bound {own:G6} (scale {scale:R}, zero {zero})");
                if (own > 0) worst = Math.Max(worst, e / own);
                if (!ordinary) continue;
                double closed = ClosedFormBound(grid, x, amax, min, max);
                if (!(e <= closed)) Assert.Fail($"{grid.Name} on {t}: value {i} = {x:R} → {y[i]:R}, error {e:G6} > documented bound {closed:G6} (group amax {amax:G6}, min {min:G6}, max {max:G6})");
            }
            if (grid is MxFp4Grid)
                Assert.Equal(amax == 0 ? Math.ScaleB(1.0, -127) : Math.ScaleB(1.0, Math.Max(-127, (int)Math.Floor(Math.Log2(amax)) - 2)), (double)scale);
        }
        if (grid is IntegerGrid { MseClipping: not null } mse) CheckMseNotWorse(mse, t, q, y);
        return (err2, x2, worst);
    }

    /// <summary>The closed forms of docs/quantization-grids.md, from the group's own min/max/absmax.</summary>
    private static double ClosedFormBound(IQuantizationGrid grid, float x, double amax, double min, double max)
    {
        double ax = Math.Abs((double)x);
        switch (grid)
        {
            case IntegerGrid { MseClipping: null } ig:
            {
                int maxq = ig.MaxCode;
                if (amax == 0) return 0;
                double s, bound;
                if (ig.Symmetric && min < 0) { s = 2 * Math.Max(-min, max) / maxq; bound = s / 2; }
                else if (ig.Symmetric) { s = max / maxq; bound = Math.Max(s / 2, x - ((maxq + 1) / 2 - 1) * s); } // GPTQ: no negatives → xmin stays 0
                else { s = (max - min) / maxq; bound = s / 2; }
                // fp32: x/s (≤ maxq·2^-24 steps) and s·(q − z) (2^-24 relative).
                return bound + s * 2e-5 + ax * 2e-7;
            }
            case IntegerGrid:
                return double.PositiveInfinity; // MSE clipping: checked in aggregate (CheckMseNotWorse)
            case Nf4Grid:
                return 0.1519036 * amax * (1 + 1e-5);
            case Fp8Grid f8:
            {
                var f = f8.Format;
                double s = amax / f.MaxFinite;
                return Math.Max(ax * Math.ScaleB(1.0, -(f.MantissaBits + 1)), s * Math.ScaleB(1.0, f.MinExponent - f.MantissaBits - 1)) * (1 + 1e-5) + ax * 3e-7;
            }
            case Fp4Grid:
                return Math.Max(amax / 24, ax / 4) * (1 + 1e-5);
            case MxFp4Grid:
            {
                double unit = amax == 0 ? 0 : Math.ScaleB(1.0, (int)Math.Floor(Math.Log2(amax)) - 2);
                return Math.Max(unit / 4, ax / 4);
            }
            default:
                throw new ArgumentException(grid.Name);
        }
    }

    /// <summary>Per group, Σ|err|^2.4 of the MSE-clipped result ≤ that of plain min/max (i = 0 of the search).</summary>
    private static void CheckMseNotWorse(IntegerGrid mse, TestTensor t, GridTensor q, float[] y)
    {
        var plain = new IntegerGrid(mse.Bits, mse.Symmetric, mse.Grouping);
        var qp = plain.Quantize(t.Values, t.Rows, t.Columns);
        var yp = new float[y.Length];
        plain.Dequantize(qp, yp);
        foreach (var members in GroupMembers(q))
        {
            double a = 0, b = 0;
            foreach (int i in members)
            {
                a += Math.Pow(Math.Abs((double)t.Values[i] - y[i]), mse.MseClipping!.Norm);
                b += Math.Pow(Math.Abs((double)t.Values[i] - yp[i]), mse.MseClipping!.Norm);
            }
            Assert.True(a <= b * (1 + 1e-9) + 1e-300, $"{mse.Name} on {t}: group error {a:G9} worse than min/max {b:G9}");
        }
    }

    private static List<List<int>> GroupMembers(GridTensor q)
    {
        var groups = new List<List<int>>();
        for (int g = 0; g < q.Scales.Length; g++) groups.Add(new List<int>());
        for (int r = 0; r < q.Rows; r++)
            for (int c = 0; c < q.Columns; c++)
                groups[q.GroupOf(r, c)].Add(r * q.Columns + c);
        return groups;
    }
}
