// The fp16 GEMV fast path (activations pre-scaled by 2^112) must give exactly what the plain path gives.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Tests.Kernels;

[Collection(KernelOptionsCollection.Name)]
public sealed class F16GemvScalingTests
{
    private static float[] Gemv(NativeTensor w, float[] x)
    {
        var y = new float[w.View.Rows];
        MatMul.Multiply(x, 1, w.View, y);
        return y;
    }

    [Fact]
    public void PrescaledPathIsBitIdenticalToThePlainPathIncludingSubnormalWeights()
    {
        var rng = new Random(7);
        int n = 96, k = 200;
        var wv = new float[n * k];
        for (int i = 0; i < wv.Length; i++)
            wv[i] = i % 7 == 0 ? (float)(rng.NextDouble() - 0.5) * 1e-6f /* fp16 subnormal range */ : (float)(rng.NextDouble() * 2 - 1);
        using var w = new NativeTensor(DType.F16, n, k, wv);
        var x = new float[k];
        for (int i = 0; i < k; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * 1000f;
        x[3] = 1000f;
        // max |x| = 1000 takes the pre-scaled path; x·128 (exact) has max 128000 ≥ 2^16 and takes the
        // plain path. Scaling every product by 128 is exact, so the results must agree bit for bit.
        foreach (var isa in new[] { KernelIsa.Avx512, KernelIsa.Avx2, KernelIsa.Vector128, KernelIsa.Scalar })
        {
            if (!KernelOptions.IsSupported(isa)) continue;
            using var scope = new KernelScope(isa, 0);
            float[] fast = Gemv(w, x);
            float[] plain = Gemv(w, Array.ConvertAll(x, v => v * 128f));
            for (int i = 0; i < n; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(fast[i] * 128f), BitConverter.SingleToInt32Bits(plain[i]));
        }
    }

    [Fact]
    public void FiniteCheckFindsNaNAndInfInEveryFloatType()
    {
        foreach (var dt in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            var v = new float[5000];
            using (var ok = new NativeTensor(dt, 50, 100, v)) Assert.Equal(-1, FiniteCheck.FirstNonFinite(ok.View));
            v[4321] = float.PositiveInfinity;
            using (var inf = new NativeTensor(dt, 50, 100, v)) Assert.Equal(4321, FiniteCheck.FirstNonFinite(inf.View));
            v[17] = float.NaN;
            using (var nan = new NativeTensor(dt, 50, 100, v)) Assert.Equal(17, FiniteCheck.FirstNonFinite(nan.View));
        }
    }
}
