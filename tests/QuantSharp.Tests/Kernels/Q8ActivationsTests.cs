// Activation quantization (Q8_0- and Q8_K-style blocks) is the same bytes on every ISA path and thread count as a plain reference.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// <see cref="Q8Activations.Quantize"/> (vectorised per block, rows split over the worker pool) against a scalar
/// reference written here from its definition: d = max|x| / 127, q = round-half-even(clamp(x / d)), integer sums
/// per 32 (Q8_0) or 16 (Q8_K) values. Values, scales and sums must be identical — the integer kernels and the
/// oracle tests depend on these exact bytes — for AVX-512, AVX2 and scalar, 1 and 2 threads, with all-zero
/// blocks, values exactly halfway between integers after scaling, and row counts that do not split evenly.
/// With sign planes requested, also |q| and the sign plane (0x10 where q &lt; 0) of every value.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class Q8ActivationsTests
{
    private static readonly KernelIsa[] Isas = [.. new[] { KernelIsa.Avx512, KernelIsa.Avx2, KernelIsa.Vector128, KernelIsa.Scalar }.Where(KernelOptions.IsSupported)];

    [Theory]
    [InlineData(false, 1, 32)]
    [InlineData(false, 3, 96)]
    [InlineData(false, 37, 512)]
    [InlineData(true, 1, 256)]
    [InlineData(true, 5, 768)]
    [InlineData(true, 67, 512)]
    public void EveryPathGivesTheReferenceBytes(bool superBlocks, int m, int k)
    {
        var x = Inputs(m, k, seed: m * 1000 + k);
        var (q, d, s) = Reference(x, m, k, superBlocks);
        foreach (var isa in Isas)
            foreach (int threads in new[] { 1, 2 })
            foreach (bool planes in new[] { false, true })
            {
                using var scope = new KernelScope(isa, threads);
                var acts = new Q8Activations();
                fixed (float* px = x) acts.Quantize(px, m, k, superBlocks, planes);
                int bs = superBlocks ? 256 : 32, group = superBlocks ? 16 : 32;
                for (int r = 0; r < m; r++)
                {
                    var tile = acts.Tile(r);
                    for (int i = 0; i < k; i++)
                        Assert.True(q[r * k + i] == tile.Q(0)[i], $"{isa}, {threads} threads: q[{r},{i}] = {tile.Q(0)[i]}, expected {q[r * k + i]}");
                    Assert.Equal(planes, tile.HasSignPlanes);
                    if (planes)
                        for (int i = 0; i < k; i++)
                        {
                            int v = q[r * k + i];
                            Assert.True(tile.U(0)[i] == Math.Abs(v) && tile.G(0)[i] == (v < 0 ? 0x10 : 0),
                                $"{isa}, {threads} threads: planes of q[{r},{i}] = {v}: |q| {tile.U(0)[i]}, sign {tile.G(0)[i]}");
                        }
                    for (int b = 0; b < k / bs; b++)
                        Assert.True(BitConverter.SingleToInt32Bits(d[r * (k / bs) + b]) == BitConverter.SingleToInt32Bits(tile.D(0)[b]),
                            $"{isa}, {threads} threads: d[{r},{b}] = {tile.D(0)[b]}, expected {d[r * (k / bs) + b]}");
                    for (int g = 0; g < k / group; g++)
                        Assert.True(s[r * (k / group) + g] == tile.S(0)[g], $"{isa}, {threads} threads: sum[{r},{g}] = {tile.S(0)[g]}, expected {s[r * (k / group) + g]}");
                }
            }
    }

    /// <summary>Random values over several orders of magnitude, one all-zero block per row, and a block whose scaled values are exact halves.</summary>
    private static float[] Inputs(int m, int k, int seed)
    {
        var rng = new Random(seed);
        var x = new float[m * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-3, 3)));
        for (int r = 0; r < m; r++)
        {
            int zero = rng.Next(k / 32) * 32;
            Array.Clear(x, r * k + zero, 32);
            // max 127 makes d = 1, so the others land on n + 0.5 and test ties-to-even.
            int half = (zero + 32) % k;
            x[r * k + half] = 127f;
            for (int i = 1; i < 32; i++) x[r * k + half + i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f);
        }
        return x;
    }

    private static (sbyte[] Q, float[] D, int[] S) Reference(float[] x, int m, int k, bool superBlocks)
    {
        int bs = superBlocks ? 256 : 32, group = superBlocks ? 16 : 32;
        var q = new sbyte[m * k];
        var d = new float[m * (k / bs)];
        var s = new int[m * (k / group)];
        for (int r = 0; r < m; r++)
        {
            for (int b = 0; b < k / bs; b++)
            {
                int o = r * k + b * bs;
                float amax = 0;
                for (int i = 0; i < bs; i++) amax = Math.Max(amax, Math.Abs(x[o + i]));
                float scale = amax / 127f, id = scale != 0 ? 1f / scale : 0f;
                d[r * (k / bs) + b] = scale;
                for (int i = 0; i < bs; i++) q[o + i] = (sbyte)MathF.Round(Math.Clamp(x[o + i] * id, -127f, 127f), MidpointRounding.ToEven);
            }
            for (int g = 0; g < k / group; g++)
            {
                int sum = 0;
                for (int i = 0; i < group; i++) sum += q[r * k + g * group + i];
                s[r * (k / group) + g] = sum;
            }
        }
        return (q, d, s);
    }
}
