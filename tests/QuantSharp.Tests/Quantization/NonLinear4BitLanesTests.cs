// The 8-lane IQ4 grid lookup and scale search must give exactly the scalar results.
using System.Runtime.Intrinsics;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// Bit-for-bit comparison of <see cref="NonLinear4BitLanes"/> with <see cref="NonLinear4Bit.BlockScale"/> and
/// <see cref="GgmlScalar.BestIndex"/> (which the oracle tests tie to ggml): random blocks with and without
/// importance, all-zero, constant, tiny and signed-zero blocks, and grid values, midpoints and the ends.
/// </summary>
public sealed class NonLinear4BitLanesTests
{
    [Fact]
    public void NearestIndexMatchesBestIndex()
    {
        if (!NonLinear4BitLanes.IsSupported) return;
        var values = NonLinear4Bit.Values.ToArray();
        var probes = new List<float> { float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, float.MaxValue, -float.MaxValue, 1e-30f, -1e-30f };
        for (int k = 0; k < 16; k++)
        {
            probes.Add(values[k]);
            probes.Add(MathF.BitIncrement(values[k]));
            probes.Add(MathF.BitDecrement(values[k]));
            if (k < 15)
            {
                float mid = (values[k] + values[k + 1]) / 2f;
                probes.AddRange([mid, MathF.BitIncrement(mid), MathF.BitDecrement(mid)]);
            }
        }
        var rng = new Random(4);
        for (int i = 0; i < 20000; i++) probes.Add((float)(rng.NextDouble() * 300 - 150));
        while (probes.Count % 8 != 0) probes.Add(0f);
        for (int i = 0; i < probes.Count; i += 8)
        {
            var v = Vector256.Create(probes.ToArray(), i);
            var index = NonLinear4BitLanes.NearestIndex(v, out var q);
            for (int j = 0; j < 8; j++)
            {
                int expected = GgmlScalar.BestIndex(values, probes[i + j]);
                Assert.Equal(expected, index[j]);
                Assert.Equal((float)values[expected], q[j]);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BlockScalesMatchScalarSearch(bool withImportance)
    {
        if (!NonLinear4BitLanes.IsSupported) return;
        const int qk = NonLinear4Bit.BlockSize, lanes = NonLinear4BitLanes.Lanes;
        var rng = new Random(withImportance ? 2 : 1);
        float Gauss() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var x = new float[qk * lanes];
        var imp = new float[qk * lanes];
        var w = new float[qk * lanes];
        var xt = new float[qk * lanes];
        var wt = new float[qk * lanes];
        var scales = new float[lanes];
        var weight = new float[qk];
        var scalarLevels = new byte[qk];
        var levels = new byte[qk];
        for (int g = 0; g < 3000; g++)
        {
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = ((g + i / qk) % 7) switch
                {
                    0 => 0f,
                    1 => -0.5f,
                    2 => rng.Next(3) == 0 ? -0f : 1e-16f * Gauss(),
                    3 => rng.Next(5) - 2f,
                    _ => 0.02f * Gauss(),
                };
                imp[i] = rng.Next(10) == 0 ? 0f : (float)rng.NextDouble();
            }
            int count = g % 5 == 0 ? 1 + g % lanes : lanes;
            for (int k = 0; k < count; k++)
            {
                var xb = x.AsSpan(k * qk, qk);
                float sigma2 = NonLinear4Bit.SigmaSquared(xb);
                NonLinear4Bit.Weights(xb, withImportance ? imp.AsSpan(k * qk, qk) : default, sigma2, w.AsSpan(k * qk, qk));
            }
            KQuantLaneSearch.Transpose(x, qk, count, xt);
            KQuantLaneSearch.Transpose(w, qk, count, wt);
            Array.Fill(scales, 99f);
            NonLinear4BitLanes.BlockScales(xt, wt, count, scales);
            for (int k = 0; k < lanes; k++)
            {
                if (k >= count) { Assert.Equal(99f, scales[k]); continue; }
                var xb = x.AsSpan(k * qk, qk);
                float sigma2 = NonLinear4Bit.SigmaSquared(xb);
                float d = NonLinear4Bit.BlockScale(xb, withImportance ? imp.AsSpan(k * qk, qk) : default, sigma2, weight, scalarLevels);
                Assert.Equal(BitConverter.SingleToInt32Bits(d), BitConverter.SingleToInt32Bits(scales[k]));
                float id = d != 0 ? 1 / d : 0;
                NonLinear4BitLanes.PickLevels(xb, id, levels);
                for (int j = 0; j < qk; j++) Assert.Equal(GgmlScalar.BestIndex(NonLinear4Bit.Values, id * xb[j]), levels[j]);
            }
        }
    }
}
