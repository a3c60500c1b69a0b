// The eight-lane scale searches must give exactly the scalar searches' levels, scales and mins.
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// Bit-for-bit comparison of <see cref="KQuantLaneSearch"/> with <see cref="KQuantScaleSearch"/> (whose
/// results the oracle tests tie to ggml's) on random groups and on the edge cases that take the searches'
/// other branches: all-zero and constant sub-blocks, non-negative ones, signed zeros, tiny magnitudes.
/// </summary>
public sealed class KQuantLaneSearchTests
{
    private static IEnumerable<float[]> Groups(int n, int seed)
    {
        var rng = new Random(seed);
        float Gauss() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        for (int g = 0; g < 3000; g++)
        {
            var x = new float[n * KQuantLaneSearch.Lanes];
            for (int i = 0; i < x.Length; i++)
            {
                int sub = i / n;
                x[i] = ((g + sub) % 9) switch
                {
                    0 => 0f,                                    // all-zero sub-block
                    1 => 0.25f,                                 // constant
                    2 => MathF.Abs(Gauss()),                    // non-negative (min clamps to 0)
                    3 => rng.Next(3) == 0 ? -0f : 1e-20f * Gauss(), // signed zeros and tiny values
                    4 => rng.Next(4) - 1.5f,                    // few distinct values, ties in the rounding
                    _ => 0.02f * Gauss(),
                };
            }
            yield return x;
        }
    }

    [Theory]
    [InlineData(3, 16, -0.5f, 0.1f, 15, true)]   // Q2_K reference
    [InlineData(15, 32, -1f, 0.1f, 20, false)]   // Q4_K reference
    [InlineData(31, 32, -0.5f, 0.1f, 15, false)] // Q5_K reference
    [InlineData(15, 32, -1f, 0.1f, 0, false)]    // no steps
    public void Qkx2MatchesScalarSearch(int nmax, int n, float rmin, float rdelta, int nstep, bool useMad)
    {
        if (!KQuantLaneSearch.IsSupported) return;
        const int lanes = KQuantLaneSearch.Lanes;
        foreach (var x in Groups(n, nmax * 100 + n))
        {
            var w = new float[x.Length];
            for (int i = 0; i < x.Length; i++) w[i] = useMad ? MathF.Abs(x[i]) : 0.01f + MathF.Abs(x[i]);
            var xt = new float[n * lanes];
            var wt = new float[n * lanes];
            KQuantLaneSearch.Transpose(x, n, lanes, xt);
            KQuantLaneSearch.Transpose(w, n, lanes, wt);
            var levels = new byte[n * lanes];
            var scales = new float[lanes];
            var mins = new float[lanes];
            KQuantLaneSearch.MakeQkx2Quants(nmax, n, xt, wt, lanes, levels, scales, mins, rmin, rdelta, nstep, useMad);
            var expectedLevels = new byte[n];
            var aux = new byte[n];
            for (int j = 0; j < lanes; j++)
            {
                float scale = KQuantScaleSearch.MakeQkx2Quants(nmax, x.AsSpan(j * n, n), w.AsSpan(j * n, n), expectedLevels, out float min, aux, rmin, rdelta, nstep, useMad);
                Assert.Equal(BitConverter.SingleToInt32Bits(scale), BitConverter.SingleToInt32Bits(scales[j]));
                Assert.Equal(BitConverter.SingleToInt32Bits(min), BitConverter.SingleToInt32Bits(mins[j]));
                Assert.Equal(expectedLevels, levels.AsSpan(j * n, n).ToArray());
            }
        }
    }

    [Theory]
    [InlineData(32, 16)] // Q6_K reference
    [InlineData(4, 16)]
    [InlineData(32, 5)]
    public void QxMatchesScalarSearch(int nmax, int n)
    {
        if (!KQuantLaneSearch.IsSupported) return;
        const int lanes = KQuantLaneSearch.Lanes;
        foreach (var x in Groups(n, nmax * 100 + n + 1))
        {
            var xt = new float[n * lanes];
            KQuantLaneSearch.Transpose(x, n, lanes, xt);
            var levels = new sbyte[n * lanes];
            var scales = new float[lanes];
            KQuantLaneSearch.MakeQxQuants(nmax, n, xt, lanes, levels, scales);
            var expectedLevels = new sbyte[n];
            for (int j = 0; j < lanes; j++)
            {
                float scale = KQuantScaleSearch.MakeQxQuants(nmax, x.AsSpan(j * n, n), expectedLevels, default);
                Assert.Equal(BitConverter.SingleToInt32Bits(scale), BitConverter.SingleToInt32Bits(scales[j]));
                Assert.Equal(expectedLevels, levels.AsSpan(j * n, n).ToArray());
            }
        }
    }

    [Theory]
    [InlineData(4, 16)] // Q3_K reference
    [InlineData(32, 16)]
    [InlineData(4, 7)]
    public void Q3MatchesScalarSearch(int nmax, int n)
    {
        if (!KQuantLaneSearch.IsSupported) return;
        const int lanes = KQuantLaneSearch.Lanes;
        foreach (var x in Groups(n, nmax * 100 + n + 2))
        {
            var xt = new float[n * lanes];
            KQuantLaneSearch.Transpose(x, n, lanes, xt);
            var levels = new sbyte[n * lanes];
            var scales = new float[lanes];
            KQuantLaneSearch.MakeQ3Quants(nmax, n, xt, lanes, levels, scales);
            var expectedLevels = new sbyte[n];
            for (int j = 0; j < lanes; j++)
            {
                float scale = KQuantScaleSearch.MakeQ3Quants(nmax, x.AsSpan(j * n, n), expectedLevels);
                Assert.Equal(BitConverter.SingleToInt32Bits(scale), BitConverter.SingleToInt32Bits(scales[j]));
                Assert.Equal(expectedLevels, levels.AsSpan(j * n, n).ToArray());
            }
        }
    }

    [Fact]
    public void FewerSubBlocksThanLanesLeaveTheRestUntouched()
    {
        if (!KQuantLaneSearch.IsSupported) return;
        const int n = 16, count = 3;
        var x = new float[n * count];
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i * 0.7f);
        var xt = new float[n * KQuantLaneSearch.Lanes];
        KQuantLaneSearch.Transpose(x, n, count, xt);
        var levels = Enumerable.Repeat((sbyte)99, n * KQuantLaneSearch.Lanes).ToArray();
        var scales = Enumerable.Repeat(7f, KQuantLaneSearch.Lanes).ToArray();
        KQuantLaneSearch.MakeQxQuants(32, n, xt, count, levels, scales);
        Assert.All(levels.Skip(n * count), l => Assert.Equal(99, l));
        Assert.All(scales.Skip(count), s => Assert.Equal(7f, s));
        var expected = new sbyte[n];
        for (int j = 0; j < count; j++)
        {
            Assert.Equal(KQuantScaleSearch.MakeQxQuants(32, x.AsSpan(j * n, n), expected, default), scales[j]);
            Assert.Equal(expected, levels.AsSpan(j * n, n).ToArray());
        }
    }
}
