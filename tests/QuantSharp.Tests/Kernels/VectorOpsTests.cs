// VectorOps against straightforward double-precision references.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Tests.Kernels;

[Collection(KernelOptionsCollection.Name)]
public sealed class VectorOpsTests
{
    private static float[] Rand(int n, int seed, float scale = 1)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }

    [Theory]
    [InlineData(KernelIsa.Auto, 1)]
    [InlineData(KernelIsa.Auto, 7)]
    [InlineData(KernelIsa.Auto, 512)]
    [InlineData(KernelIsa.Auto, 1539)]
    [InlineData(KernelIsa.Vector128, 517)]
    [InlineData(KernelIsa.Scalar, 517)]
    public void RmsNormMatchesReference(KernelIsa isa, int n)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        float[] x = Rand(n, n, 3), wt = Rand(n, n + 1);
        var dst = new float[n];
        VectorOps.RmsNorm(x, wt, 1e-5f, dst);
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        double scale = 1 / Math.Sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(dst[i] - x[i] * scale * wt[i]) <= 1e-6 * Math.Abs(x[i] * scale * wt[i]) + 1e-7, $"i={i}");
        // In place gives the same bits.
        var inPlace = (float[])x.Clone();
        VectorOps.RmsNorm(inPlace, wt, 1e-5f, inPlace);
        Assert.Equal(dst, inPlace);
    }

    [Fact]
    public void SoftmaxIsStableAndNormalised()
    {
        float[] x = Rand(1000, 5, 50);
        x[3] = 1000f; // would overflow exp without the max shift
        var expected = new double[x.Length];
        double max = x.Max(), sum = 0;
        for (int i = 0; i < x.Length; i++) sum += expected[i] = Math.Exp(x[i] - max);
        VectorOps.Softmax(x);
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - expected[i] / sum) <= 1e-6 * (expected[i] / sum) + 1e-12, $"i={i}");
        Assert.Equal(1.0, x.Sum(v => (double)v), 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(1537)]
    public void SiluMulMatchesReferenceAndAllowsAliasing(int n)
    {
        float[] g = Rand(n, 1, 6), u = Rand(n, 2);
        var dst = new float[n];
        VectorOps.SiluMul(g, u, dst);
        for (int i = 0; i < n; i++)
        {
            double e = g[i] / (1 + Math.Exp(-g[i])) * u[i];
            Assert.True(Math.Abs(dst[i] - e) <= 1e-5 * Math.Abs(e) + 1e-7, $"i={i}");
        }
        var gAlias = (float[])g.Clone();
        VectorOps.SiluMul(gAlias, u, gAlias);
        Assert.Equal(dst, gAlias);
        var uAlias = (float[])u.Clone();
        VectorOps.SiluMul(g, uAlias, uAlias);
        Assert.Equal(dst, uAlias);
    }

    [Fact]
    public void DotAxpyAdd()
    {
        float[] x = Rand(333, 1), y = Rand(333, 2);
        double d = 0;
        for (int i = 0; i < x.Length; i++) d += (double)x[i] * y[i];
        Assert.Equal(d, VectorOps.Dot(x, y), 4);

        var z = (float[])y.Clone();
        VectorOps.Axpy(0.5f, x, z);
        for (int i = 0; i < x.Length; i++) Assert.Equal(y[i] + 0.5f * x[i], z[i], 6);

        var s = new float[x.Length];
        VectorOps.Add(x, y, s);
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i] + y[i], s[i]);
    }
}
