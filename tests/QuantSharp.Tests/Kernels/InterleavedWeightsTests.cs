// The quad-interleaved weight copy (llama.cpp-style repack for the AVX-512 row-quad kernels) changes no bit.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// For every type with an interleaved kernel: products through <see cref="TensorView.WithInterleavedCopy"/>
/// equal those on the file's layout bit for bit — row counts that are not a multiple of four (the
/// last quad repeats a row), several M below the GEMM threshold, 1 and 2 threads, and the non-AVX-512
/// ISAs (which must ignore the copy). On AVX-512 also M = 40 and 100, where the int8 GEMM (octets
/// repacked from the copy), the four-token tiles or the fp32 GEMM (blocks read back from the copy,
/// <see cref="QuadInterleave.Gather{TL}"/>) take the product. The copy is built once and only where it is read.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class InterleavedWeightsTests
{
    public static TheoryData<DType> Types()
    {
        var data = new TheoryData<DType>();
        foreach (var t in BlockTypes.All.Where(QuantizedMatMul.HasInterleavedKernel)) data.Add(t);
        return data;
    }

    [Fact]
    public void TheDecodeTypesOfLlamaCppMixesHaveInterleavedKernels()
    {
        foreach (var t in new[] { DType.Q4_0, DType.Q8_0, DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K })
            Assert.True(QuantizedMatMul.HasInterleavedKernel(t), $"{t}");
        Assert.Null(new TensorView("f", DType.F32, [4, 4], null, 64).WithInterleavedCopy().Interleaved);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void InterleavedCopyGivesBitIdenticalProducts(DType type)
    {
        const int k = 1024; // 262 rows of it pass the 128 KB threshold of the threaded path
        foreach (int n in new[] { 4, 19, 262 })
        {
            var weights = BlockTypes.RandomWeights(new Random(n + (int)type), n * k);
            var packed = new byte[DTypeInfo.RowBytes(type, (long)n * k)];
            BlockQuantizer.QuantizeRows(type, weights, k, packed);
            var rng = new Random(n);
            fixed (byte* pw = packed)
            {
                var plain = new TensorView("w", type, [n, k], pw, packed.Length);
                var copy = plain.WithInterleavedCopy();
                Assert.NotNull(copy.Interleaved);
                Assert.Equal(0, copy.Interleaved!.Bytes);
                foreach (var isa in new[] { KernelIsa.Scalar, KernelIsa.Avx2, KernelIsa.Avx512 })
                {
                    if (!KernelOptions.IsSupported(isa)) continue;
                    int[] ms = isa == KernelIsa.Avx512 ? [1, 3, 7, 40, 100] : [1, 3, 7];
                    foreach (int threads in new[] { 1, 2 })
                        foreach (int m in ms)
                        {
                            var a = new float[m * k];
                            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * (i % 61 == 0 ? 20 : 1);
                            var want = new float[m * n];
                            var got = new float[m * n];
                            using (new KernelScope(isa, threads))
                            {
                                MatMul.Multiply(a, m, plain, want);
                                MatMul.Multiply(a, m, copy, got);
                            }
                            for (int i = 0; i < want.Length; i++)
                                Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]),
                                    $"{type} N={n} M={m} {isa} {threads} threads [{i / n},{i % n}]: {got[i]:R} vs {want[i]:R}");
                        }
                    // Only the AVX-512 row-quad path reads (and so builds) the copy: ⌈N/4⌉·4 rows, + 64 bytes of alignment slack.
                    long expected = isa == KernelIsa.Avx512 && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported
                        ? (n + 3) / 4 * 4 * plain.RowByteLength + 64 : 0;
                    Assert.Equal(expected, copy.Interleaved.Bytes);
                }
            }
        }
    }

    public static TheoryData<DType> TileTypes()
    {
        var data = new TheoryData<DType>();
        foreach (var t in BlockTypes.All.Where(QuantizedMatMul.HasQuadTiles)) data.Add(t);
        return data;
    }

    /// <summary>
    /// The four-activation-row tiles of the AVX-512 row-quad kernels (M = 2 … 31; from 32 on where
    /// Int8GemmRoutes routes them) give each activation row exactly what it gets alone (M = 1),
    /// on both layouts, with M not a multiple of four.
    /// </summary>
    [Theory]
    [MemberData(nameof(TileTypes))]
    public void QuadTilesGiveEveryRowItsSingleRowResult(DType type)
    {
        if (!KernelOptions.IsSupported(KernelIsa.Avx512) || !System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) return; // the tiles are AVX-512 only
        const int k = 1024, n = 37;
        var weights = BlockTypes.RandomWeights(new Random(5 + (int)type), n * k);
        var packed = new byte[DTypeInfo.RowBytes(type, (long)n * k)];
        BlockQuantizer.QuantizeRows(type, weights, k, packed);
        var rng = new Random(9);
        // M = 40 only where the tiles replace the fp32 GEMM at that size (elsewhere M ≥ 32 rounds differently).
        bool routed;
        using (new KernelScope(KernelIsa.Avx512, 2)) routed = QuantizedMatMul.UsesQuadTiles(type, 40);
        int[] sizes = routed ? [2, 7, 31, 40] : [2, 7, 31];
        fixed (byte* pw = packed)
        {
            var plain = new TensorView("w", type, [n, k], pw, packed.Length);
            foreach (var view in new[] { plain, plain.WithInterleavedCopy() })
                foreach (int m in sizes)
                {
                    var a = new float[m * k];
                    for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * (i % 53 == 0 ? 15 : 1);
                    var all = new float[m * n];
                    var one = new float[n];
                    using var scope = new KernelScope(KernelIsa.Avx512, 2);
                    MatMul.Multiply(a, m, view, all);
                    for (int t = 0; t < m; t++)
                    {
                        MatMul.Multiply(a.AsSpan(t * k, k), 1, view, one);
                        for (int r = 0; r < n; r++)
                            Assert.True(BitConverter.SingleToInt32Bits(one[r]) == BitConverter.SingleToInt32Bits(all[t * n + r]),
                                $"{type} M={m} interleaved={view.Interleaved != null} [{t},{r}]: {all[t * n + r]:R} vs alone {one[r]:R}");
                    }
                }
        }
    }
}
