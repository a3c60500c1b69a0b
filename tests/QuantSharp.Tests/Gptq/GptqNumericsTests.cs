// The fp64 building blocks of GPTQ (factor of H⁻¹, GEMM kernel) and thread-count independence of both GPTQ modes.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Tests.Kernels;

namespace QuantSharp.Tests.Gptq;

[Collection(KernelOptionsCollection.Name)]
public sealed class GptqNumericsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(150)]
    public void Upper_factor_of_the_inverse_matches_the_textbook_route(int n)
    {
        var layer = new SyntheticLayer(1, n, 3 * n + 10, seed: n);
        var h = layer.Hessian;
        double lambda = 0.01;
        var u = CholeskyFactorization.UpperCholeskyOfInverse(h, n, lambda)!;
        var damped = (double[])h.Clone();
        for (int i = 0; i < n; i++) damped[i * n + i] += lambda;
        var expected = PlainGptq.UpperCholesky(PlainGptq.Inverse(damped, n), n);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.True(Math.Abs(u[i * n + j] - (j >= i ? expected[i * n + j] : 0)) <= 1e-9 * scale, $"U[{i},{j}] = {u[i * n + j]} vs {expected[i * n + j]}");
    }

    [Fact]
    public void Factorisation_reports_an_indefinite_matrix()
    {
        var a = new double[] { 1, 2, 2, 1 };
        Assert.Null(CholeskyFactorization.UpperCholeskyOfInverse(a, 2, 0.01));
    }

    [Fact]
    public unsafe void Gemm_kernel_agrees_with_plain_sums_on_every_edge_shape()
    {
        var rng = new Random(3);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (4, 8, 3), (5, 9, 17), (7, 13, 64), (9, 31, 5), (6, 17, 600) })
        {
            var a = Enumerable.Range(0, m * k).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var b = Enumerable.Range(0, k * n).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var c = Enumerable.Range(0, m * n).Select(_ => rng.NextDouble()).ToArray();
            var expected = (double[])c.Clone();
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) expected[i * n + j] -= a[i * k + p] * b[p * n + j];
            fixed (double* pa = a, pb = b, pc = c) Fp64Gemm.SubtractProduct(pa, k, pb, n, pc, n, m, n, k);
            for (int i = 0; i < c.Length; i++) Assert.True(Math.Abs(c[i] - expected[i]) < 1e-12, $"{m}×{n}×{k} element {i}");
        }
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count()
    {
        var layer = new SyntheticLayer(40, 512, 600, seed: 9, deadColumns: [1]);
        var o = new GptqOptions { Bits = 3, GroupSize = 64, Symmetric = false, ActOrder = true };
        var bo = new GptqBlockOptions { Type = DType.Q4_K, HessianImportance = true };
        GptqLayerResult one, many;
        GptqBlockResult blockOne, blockMany;
        using (new KernelScope(KernelIsa.Auto, 1))
        {
            one = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, o);
            blockOne = GptqBlockQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, bo);
        }
        using (new KernelScope(KernelIsa.Auto, 4))
        {
            many = GptqQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, o);
            blockMany = GptqBlockQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, bo);
        }
        Assert.Equal(one.QuantizedValues, many.QuantizedValues);
        Assert.Equal(one.Scales, many.Scales);
        Assert.Equal(one.Dequantized, many.Dequantized);
        Assert.Equal(blockOne.Data, blockMany.Data);
    }
}
