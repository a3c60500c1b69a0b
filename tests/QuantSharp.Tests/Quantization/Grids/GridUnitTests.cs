// Worked examples of each grid: GPTQ's find_params values, NF4 codes, MXFP4 against ggml's block format, bad input.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Grids;

namespace QuantSharp.Tests.Quantization.Grids;

public sealed class GridUnitTests
{
    private static float[] RoundTrip(IQuantizationGrid grid, float[] x, int rows, int columns, out GridTensor q)
    {
        q = grid.Quantize(x, rows, columns);
        var y = new float[x.Length];
        grid.Dequantize(q, y);
        return y;
    }

    [Fact]
    public void Integer_asymmetric_parameters_are_gptq_find_params()
    {
        // xmin −1, xmax 2: s = 3/15, z = round(1/0.2) = 5; 0.5/s = 2.5 rounds half to even → 2.
        var y = RoundTrip(new IntegerGrid(4, false, GridGrouping.PerChannel), [-1f, 0.5f, 2f], 1, 3, out var q);
        Assert.Equal(3f / 15, q.Scales[0]);
        Assert.Equal(5, q.Zeros![0]);
        Assert.Equal(new byte[] { 0, 7, 15 }, q.Codes);
        Assert.Equal(-1f, y[0], 6);
        Assert.Equal(0.4f, y[1], 6);
        Assert.Equal(2f, y[2], 6);
    }

    [Fact]
    public void Integer_symmetric_grid_has_zero_point_half_range_and_gptq_quirk_on_non_negative_groups()
    {
        // Mixed signs: s = 2·2/15, z = 8; 2/s = 7.5 → 8 (even) + 8 → clamped to 15: error s/2.
        var y = RoundTrip(new IntegerGrid(4, true, GridGrouping.PerChannel), [-1f, 0.5f, 2f], 1, 3, out var q);
        Assert.Equal(4f / 15, q.Scales[0]);
        Assert.Equal(8, q.Zeros![0]);
        Assert.Equal(new byte[] { 4, 10, 15 }, q.Codes);
        Assert.Equal(2f - 2f / 15, y[2], 5);
        // No negative value: GPTQ keeps xmin = 0, so s = 2/15 and the grid tops out at 7·s ≈ 0.93.
        var g = new IntegerGrid(4, true, GridGrouping.PerChannel);
        y = RoundTrip(g, [1f, 2f], 1, 2, out q);
        Assert.Equal(2f / 15, q.Scales[0]);
        Assert.Equal(7 * 2f / 15, y[1], 5);
        Assert.True(Math.Abs(2 - y[1]) <= g.ErrorBound(2f, q.Scales[0], q.Zeros![0]));
    }

    [Fact]
    public void All_zero_group_uses_the_unit_range_and_decodes_to_zero()
    {
        foreach (bool sym in new[] { true, false })
        {
            var y = RoundTrip(new IntegerGrid(4, sym, GridGrouping.PerGroup(2)), [0f, 0f, 1f, -1f], 1, 4, out var q);
            Assert.Equal(2f / 15, q.Scales[0]);
            // Symmetric: 2^(b−1); asymmetric: round(1/fp32(2/15)) = round(7.4999995) = 7, as torch computes it.
            Assert.Equal(sym ? 8 : 7, q.Zeros![0]);
            Assert.Equal(0f, y[0]);
            Assert.Equal(0f, y[1]);
        }
    }

    [Fact]
    public void Groups_of_any_size_end_with_a_short_group()
    {
        var grid = new IntegerGrid(8, false, GridGrouping.PerGroup(3));
        var x = Enumerable.Range(0, 14).Select(i => (float)Math.Sin(i)).ToArray();
        var y = RoundTrip(grid, x, 2, 7, out var q);
        Assert.Equal(6, q.Scales.Length); // 3 groups per row: 3 + 3 + 1
        Assert.Equal(2, q.GroupOf(0, 6));
        Assert.Equal(5, q.GroupOf(1, 6));
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) <= grid.ErrorBound(x[i], q.Scales[q.GroupOf(i / 7, i % 7)], q.Zeros![q.GroupOf(i / 7, i % 7)]));
        // The single value of a short group quantizes exactly when it is the group's extreme.
        Assert.Equal(x[6], y[6], 6);
    }

    [Fact]
    public void Mse_clipping_shrinks_the_range_around_an_outlier()
    {
        var rng = new Random(3);
        var x = new float[128];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        x[17] = 12;
        var plain = new IntegerGrid(3, false, GridGrouping.PerChannel);
        var mse = new IntegerGrid(3, false, GridGrouping.PerChannel, MseClippingSearch.Default);
        var yp = RoundTrip(plain, x, 1, 128, out var qp);
        var ym = RoundTrip(mse, x, 1, 128, out var qm);
        Assert.True(qm.Scales[0] < qp.Scales[0]);
        double ep = 0, em = 0;
        for (int i = 0; i < x.Length; i++)
        {
            ep += Math.Pow(Math.Abs(x[i] - yp[i]), 2.4);
            em += Math.Pow(Math.Abs(x[i] - ym[i]), 2.4);
        }
        Assert.True(em < ep);
    }

    [Fact]
    public void Nf4_levels_map_to_themselves_and_values_to_a_nearest_level()
    {
        var levels = Nf4Grid.Levels.ToArray();
        for (int i = 0; i < 16; i++) Assert.Equal(i, Nf4Grid.Code(levels[i]));
        // A value on a threshold takes the lower code (bitsandbytes compares with >).
        Assert.Equal(14, Nf4Grid.Code(0.8614784181118011f));
        Assert.Equal(15, Nf4Grid.Code(MathF.BitIncrement(0.8614784181118011f)));
        var rng = new Random(4);
        for (int n = 0; n < 10000; n++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1);
            float chosen = levels[Nf4Grid.Code(v)];
            Assert.True(levels.All(l => Math.Abs(v - chosen) <= Math.Abs(v - l) + 1e-7), $"{v} → {chosen}");
        }
        var y = RoundTrip(new Nf4Grid(GridGrouping.PerGroup(64)), [0f, 0f, 0f], 1, 3, out var q);
        Assert.Equal(new byte[] { 7, 7, 7 }, q.Codes);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Mxfp4_grid_decodes_like_ggml_mxfp4_away_from_ties()
    {
        // Same representable values (2^(e−128)·kvalues = X·E2M1) and the same scale rule away from
        // log2f boundaries; random values never tie, so the decoded rows agree exactly.
        var rng = new Random(11);
        var x = new float[32 * 400];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, i / 32 % 9 - 4));
        var grid = new MxFp4Grid();
        var y = RoundTrip(grid, x, 1, x.Length, out var q);
        var bytes = new byte[x.Length / 32 * 17];
        BlockFormatRegistry.Get(DType.MXFP4).QuantizeRow(x, bytes);
        var g = new float[x.Length];
        BlockDequantizer.DequantizeRow(DType.MXFP4, bytes, g);
        Assert.Equal(g, y);
        for (int b = 0; b < x.Length / 32; b++) Assert.Equal(bytes[b * 17], E8M0.Encode(q.Scales[b]));
    }

    [Fact]
    public void Mxfp4_shared_scale_follows_the_ocp_rule()
    {
        Assert.Equal(1f, MxFp4Grid.SharedScale(4f));                       // ⌊log2 4⌋ − 2 = 0
        Assert.Equal(1f, MxFp4Grid.SharedScale(MathF.BitDecrement(8f)));   // exact ⌊log2⌋ (ggml's log2f gives 2 here)
        Assert.Equal(2f, MxFp4Grid.SharedScale(8f));
        Assert.Equal(E8M0.Decode(0), MxFp4Grid.SharedScale(0f));
        Assert.Equal(E8M0.Decode(0), MxFp4Grid.SharedScale(1e-45f));      // clamped at 2^-127
        Assert.Equal((float)Math.ScaleB(1.0, 125), MxFp4Grid.SharedScale(float.MaxValue));
        // ggml: log2f(8 − ulp) rounds to 3, so its exponent byte is 127 + 1 (X = 2) where OCP's exact rule gives X = 1.
        Assert.Equal(128, Mxfp4Format.SharedExponent(MathF.BitDecrement(8f)));
        Assert.Equal(127, Mxfp4Format.SharedExponent(MathF.BitDecrement(7.5f)));
    }

    [Fact]
    public void E8M0_covers_powers_of_two_and_nan()
    {
        Assert.Equal(1f, E8M0.Decode(127));
        Assert.Equal((float)Math.ScaleB(1.0, -127), E8M0.Decode(0));
        Assert.Equal((float)Math.ScaleB(1.0, 127), E8M0.Decode(254));
        Assert.True(float.IsNaN(E8M0.Decode(255)));
        for (int e = 0; e < 255; e++) Assert.Equal(e, E8M0.Encode(E8M0.Decode((byte)e)));
        Assert.Throws<ArgumentException>(() => E8M0.Encode(3f));
        Assert.Throws<ArgumentException>(() => E8M0.Encode(0f));
    }

    [Fact]
    public void Bad_input_fails_with_clear_messages()
    {
        var grid = new IntegerGrid(4, false, GridGrouping.PerGroup(4));
        var x = new float[8];
        x[6] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => grid.Quantize(x, 2, 4));
        Assert.Contains("row 1, column 2", ex.Message);
        Assert.Contains("8 values", Assert.Throws<ArgumentException>(() => grid.Quantize(new float[7], 2, 4)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new IntegerGrid(1, true, GridGrouping.PerChannel));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IntegerGrid(9, true, GridGrouping.PerChannel));
        Assert.Throws<ArgumentOutOfRangeException>(() => GridGrouping.PerGroup(0));
        Assert.Contains("fp32 range", Assert.Throws<ArgumentException>(() => grid.Quantize([3e38f, -3e38f, 0, 0], 1, 4)).Message);
        var q = new Nf4Grid(GridGrouping.PerGroup(4)).Quantize(new float[8], 2, 4);
        Assert.Contains("not by", Assert.Throws<ArgumentException>(() => grid.Dequantize(q, new float[8])).Message);
        Assert.Throws<ArgumentException>(() => new Nf4Grid(GridGrouping.PerGroup(4)).Dequantize(q, new float[7]));
        var empty = grid.Quantize([], 0, 5);
        Assert.Empty(empty.Scales);
    }

    [Fact]
    public void Packed_codes_unpack_to_the_codes()
    {
        var rng = new Random(2);
        var x = Enumerable.Range(0, 300).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (IQuantizationGrid grid in new IQuantizationGrid[] { new IntegerGrid(3, false, GridGrouping.PerGroup(32)), new Nf4Grid(GridGrouping.PerGroup(64)), new MxFp4Grid(), new Fp8Grid(MiniFloat.E4M3, GridGrouping.PerChannel) })
        {
            var q = grid.Quantize(x, 3, 100);
            var back = new byte[q.Codes.Length];
            CodePacking.Unpack(q.PackCodes(), q.CodeBits, back);
            Assert.Equal(q.Codes, back);
        }
    }
}
