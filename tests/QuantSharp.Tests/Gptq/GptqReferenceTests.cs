// GPTQ against the plain fp64 reference, RTN, and its input checks, on synthetic correlated layers.
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Tests.Gptq;

public sealed class GptqReferenceTests
{
    private static readonly int[] Dead = [5, 17, 40];

    public static TheoryData<int, int, bool, bool, bool, bool> Configurations => new()
    {
        // bits, group size, symmetric, act-order, static groups, MSE clip
        { 4, 0, true, false, false, false },
        { 4, 0, false, false, false, false },
        { 3, 16, true, false, false, false },
        { 3, 16, false, false, false, false },
        { 2, 24, false, false, false, false },
        { 4, 16, false, true, false, false },
        { 4, 16, true, true, true, false },
        { 3, 24, false, true, true, false },
        { 8, 32, false, true, false, false },
        { 4, 0, false, true, false, false },
        { 3, 16, false, false, false, true },
        { 4, 0, true, true, false, true },
        { 2, 48, true, false, true, false },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Matches_the_plain_unblocked_reference(int bits, int groupSize, bool sym, bool actOrder, bool staticGroups, bool mse)
    {
        var layer = new SyntheticLayer(24, 96, 400, seed: bits * 100 + groupSize, Dead);
        // Block size 32 < 96 columns: lazy updates cross blocks; groups of 24 straddle block ends.
        var o = new GptqOptions { Bits = bits, GroupSize = groupSize, Symmetric = sym, ActOrder = actOrder, StaticGroups = staticGroups, MseClip = mse, BlockSize = 32 };
        var result = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, o);
        var expected = PlainGptq.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, o, out var expectedLevels);

        double maxDiff = 0;
        for (int i = 0; i < expected.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(result.Dequantized[i] - expected[i]));
        Assert.True(maxDiff <= 1e-5, $"max |ours − reference| = {maxDiff:G3}");
        Assert.Equal(expectedLevels, result.QuantizedValues);

        // The stored form reproduces the dequantized weights: scale·(q − zero) through g_idx.
        for (int r = 0; r < layer.Rows; r++)
            for (int c = 0; c < layer.Cols; c++)
            {
                int g = result.GroupIndex[c];
                float s = result.Scales[g * layer.Rows + r];
                int z = result.Zeros[g * layer.Rows + r];
                Assert.Equal(s * (result.QuantizedValues[r * layer.Cols + c] - z), result.Dequantized[r * layer.Cols + c]);
            }
        foreach (int d in Dead)
            for (int r = 0; r < layer.Rows; r++)
                Assert.Equal(0f, result.Dequantized[r * layer.Cols + d]);
        if (sym) Assert.All(result.Zeros, z => Assert.Equal(1 << (bits - 1), z));
        Assert.Equal(groupSize == 0 ? 1 : (layer.Cols + groupSize - 1) / groupSize, result.Groups);
    }

    [Fact]
    public void Block_size_changes_nothing_but_rounding_of_sums()
    {
        var layer = new SyntheticLayer(20, 160, 300, seed: 7, Dead);
        var a = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, new GptqOptions { Bits = 3, GroupSize = 24, Symmetric = false, BlockSize = 128 });
        var b = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, new GptqOptions { Bits = 3, GroupSize = 24, Symmetric = false, BlockSize = 7 });
        Assert.Equal(a.QuantizedValues, b.QuantizedValues);
        Assert.Equal(a.Scales, b.Scales);
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    [InlineData(4, 0)]
    [InlineData(3, 32)]
    [InlineData(4, 32)]
    [InlineData(8, 0)]
    public void Beats_round_to_nearest_on_the_layer_objective(int bits, int groupSize)
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var layer = new SyntheticLayer(32, 128, 500, seed);
            foreach (bool actOrder in new[] { false, true })
            {
                var o = new GptqOptions { Bits = bits, GroupSize = groupSize, Symmetric = false, ActOrder = actOrder };
                var gptq = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, o);
                double g = PlainGptq.Objective(layer.Weight, gptq.Dequantized.Select(v => (double)v).ToArray(), layer.Rows, layer.Cols, layer.Hessian);
                double r = PlainGptq.Objective(layer.Weight, PlainGptq.RoundToNearest(layer.Weight, layer.Rows, layer.Cols, o), layer.Rows, layer.Cols, layer.Hessian);
                Assert.True(g < r, $"seed {seed}, act-order {actOrder}: GPTQ {g:G4} vs RTN {r:G4}");
            }
        }
    }

    [Fact]
    public void Indefinite_hessian_is_retried_with_more_dampening_and_warned()
    {
        // diag 1 with a 1.05 coupling: eigenvalue −0.05, fixed by λ = 0.1 but not 0.01.
        int n = 4;
        var h = new double[n * n];
        for (int i = 0; i < n; i++) h[i * n + i] = 1;
        h[0 * n + 1] = h[1 * n + 0] = 1.05;
        var w = new float[] { 0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.25f, 0.0f, 0.15f };
        var warnings = new List<string>();
        var result = GptqQuantizer.Quantize(w, 2, n, h, new GptqOptions { Bits = 4, GroupSize = 0 }, warnings.Add);
        Assert.Single(warnings);
        Assert.Contains("not positive definite", warnings[0]);
        Assert.All(result.Dequantized, v => Assert.True(float.IsFinite(v)));

        h[0 * n + 1] = h[1 * n + 0] = 1e4;
        var ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(w, 2, n, h, new GptqOptions { Bits = 4, GroupSize = 0 }));
        Assert.Contains("not positive definite", ex.Message);
    }

    [Fact]
    public void Bad_inputs_are_refused_with_the_culprit_named()
    {
        var layer = new SyntheticLayer(4, 16, 50, seed: 3);
        var w = (float[])layer.Weight.Clone();
        w[2 * 16 + 9] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(w, 4, 16, layer.Hessian, new GptqOptions { GroupSize = 0 }));
        Assert.Contains("weight[2, 9]", ex.Message);
        Assert.Contains("NaN", ex.Message);

        var h = (double[])layer.Hessian.Clone();
        h[3 * 16 + 4] = double.PositiveInfinity;
        ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(layer.Weight, 4, 16, h, new GptqOptions { GroupSize = 0 }));
        Assert.Contains("Hessian[3, 4]", ex.Message);

        h = (double[])layer.Hessian.Clone();
        h[5 * 16 + 5] = -1;
        ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(layer.Weight, 4, 16, h, new GptqOptions { GroupSize = 0 }));
        Assert.Contains("diagonal [5, 5]", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(layer.Weight, 4, 15, layer.Hessian, new GptqOptions { GroupSize = 0 }));
        Assert.Contains("rows·cols", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(layer.Weight, 4, 16, layer.Hessian.AsSpan(1).ToArray(), new GptqOptions { GroupSize = 0 }));
        Assert.Contains("cols²", ex.Message);
    }

    [Theory]
    [InlineData("Bits", 1)]
    [InlineData("Bits", 9)]
    [InlineData("GroupSize", -1)]
    [InlineData("Damping", 0)]
    [InlineData("Damping", 1)]
    [InlineData("BlockSize", 0)]
    [InlineData("StaticGroups", 1)]
    public void Out_of_range_options_are_refused_by_name(string name, double value)
    {
        var o = name switch
        {
            "Bits" => new GptqOptions { Bits = (int)value },
            "GroupSize" => new GptqOptions { GroupSize = (int)value },
            "Damping" => new GptqOptions { Damping = value },
            "BlockSize" => new GptqOptions { BlockSize = (int)value },
            _ => new GptqOptions { StaticGroups = true, GroupSize = 0 },
        };
        var layer = new SyntheticLayer(2, 8, 20, seed: 1);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => GptqQuantizer.Quantize(layer.Weight, 2, 8, layer.Hessian, o));
        Assert.Equal(name, ex.ParamName);
    }
}
