// MatMul against a double-precision reference on every ISA path and dtype, plus thread determinism.
using CsCheck;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Kernels;

[Collection(KernelOptionsCollection.Name)]
public sealed class MatMulTests(ITestOutputHelper output)
{
    public static TheoryData<KernelIsa, DType> IsaAndDType()
    {
        var data = new TheoryData<KernelIsa, DType>();
        foreach (var isa in new[] { KernelIsa.Avx512, KernelIsa.Avx2, KernelIsa.Vector128, KernelIsa.Scalar })
            foreach (var dt in new[] { DType.F32, DType.F16, DType.BF16 })
                data.Add(isa, dt);
        return data;
    }

    /// <summary>Random shapes including odd ones (K not a multiple of 16, M up to 17) against the reference.</summary>
    [Theory]
    [MemberData(nameof(IsaAndDType))]
    public void RandomShapesMatchReference(KernelIsa isa, DType dtype)
    {
        if (!Supported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var gen = Gen.Select(Gen.Int[1, 17], Gen.OneOf(Gen.Int[1, 80], Gen.Const(64)), Gen.OneOf(Gen.Int[1, 300], Gen.Const(172)), Gen.UInt);
        gen.Sample((m, n, k, seed) => Check(dtype, m, n, k, (int)seed), iter: 60);
    }

    /// <summary>Shapes that cross every blocking boundary: several K blocks, ragged N blocks, parallel split.</summary>
    [Theory]
    [MemberData(nameof(IsaAndDType))]
    public void LargeShapesMatchReference(KernelIsa isa, DType dtype)
    {
        if (!Supported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        Check(dtype, 1, 1000, 700, 1);
        Check(dtype, 37, 300, 600, 2);
        Check(dtype, 64, 64, 172, 3);
        Check(dtype, 2, 513, 515, 4);
    }

    /// <summary>Same inputs on 1, 2, 3 threads and the default give byte-identical outputs.</summary>
    [Theory]
    [MemberData(nameof(IsaAndDType))]
    public void ResultsDoNotDependOnThreadCount(KernelIsa isa, DType dtype)
    {
        if (!Supported(isa)) return;
        foreach (var (m, n, k) in new[] { (1, 2000, 520), (1, 67, 172), (37, 600, 530), (9, 64, 172), (200, 40, 100) })
        {
            var rng = new Random(m * 31 + n);
            float[] a = RandomArray(rng, m * k);
            using var w = new NativeTensor(dtype, n, k, RandomArray(rng, n * k));
            byte[]? first = null;
            foreach (int threads in new[] { 1, 2, 3, 0 })
            {
                using var scope = new KernelScope(isa, threads);
                var c = new float[m * n];
                MatMul.Multiply(a, m, w.View, c);
                byte[] bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(c.AsSpan()).ToArray();
                if (first is null) first = bytes;
                else Assert.True(first.AsSpan().SequenceEqual(bytes), $"{isa} {dtype} M={m} N={n} K={k}: {threads} threads differ from 1 thread");
            }
        }
    }

    [Fact]
    public void UnsupportedIsaThrowsAndAutoResolves()
    {
        Assert.NotEqual(KernelIsa.Auto, KernelOptions.EffectiveIsa);
        foreach (var isa in Enum.GetValues<KernelIsa>())
            if (!KernelOptions.IsSupported(isa))
                Assert.Throws<NotSupportedException>(() => KernelOptions.Isa = isa);
        output.WriteLine($"auto ISA: {KernelOptions.EffectiveIsa}");
    }

    [Fact]
    public void RejectsShortBuffers()
    {
        using var w = new NativeTensor(DType.F32, 4, 8, new float[32]);
        Assert.Throws<ArgumentException>(() => MatMul.Multiply(new float[15], 2, w.View, new float[8]));
        Assert.Throws<ArgumentException>(() => MatMul.Multiply(new float[16], 2, w.View, new float[7]));
    }

    private bool Supported(KernelIsa isa)
    {
        if (KernelOptions.IsSupported(isa)) return true;
        output.WriteLine($"skipped: {isa} not supported on this CPU");
        return false;
    }

    private static void Check(DType dtype, int m, int n, int k, int seed)
    {
        var rng = new Random(seed);
        float[] a = RandomArray(rng, m * k);
        using var w = new NativeTensor(dtype, n, k, RandomArray(rng, n * k));
        var c = new float[m * n];
        MatMul.Multiply(a, m, w.View, c);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, mag = 0;
                for (int t = 0; t < k; t++)
                {
                    double p = (double)a[i * k + t] * w.Values[j * k + t];
                    s += p;
                    mag += Math.Abs(p);
                }
                double err = Math.Abs(c[i * n + j] - s);
                if (err > 1e-5 * mag + 1e-30)
                    Assert.Fail($"{KernelOptions.EffectiveIsa} {dtype} M={m} N={n} K={k}: C[{i},{j}]={c[i * n + j]} ref={s} err={err} Σ|aw|={mag}");
            }
    }

    private static float[] RandomArray(Random rng, int count)
    {
        var r = new float[count];
        for (int i = 0; i < count; i++) r[i] = (float)(rng.NextDouble() * 2 - 1);
        return r;
    }
}
