// The int8 GEMM for prefill (AVX-512, AVX2 and scalar tiles over repacked octets): bit-identical per row to the decode kernels on every ISA, with ragged shapes.
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// For every type with GEMM tiles, on every ISA path the CPU has (AVX-512, AVX2, scalar, each
/// forced through KernelOptions): an M-row product through the int8 GEMM gives, for each weight
/// row and activation row, exactly the bits of the M = 1 (decode) product on any of these paths;
/// the same bits for 1, 2 and 3 threads, for any split of the M rows into calls, and whatever the neighbouring
/// weight rows (so the ragged last octet, which repeats its final row, is harmless); and each
/// output is within 2e-6 of Σ|w·a| of the exact dot of the dequantized operands. Shapes have
/// weight rows that are not a multiple of 8 and activation rows that are not a multiple of 4.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
[Trait("Category", "Oracle")]
public sealed unsafe class Int8GemmTests(ITestOutputHelper output)
{
    private static readonly DType[] TileTypes = [.. BlockTypes.All.Where(t => t != DType.Q8_K && QuantizedMatMul.IsIsaExact(t))];

    /// <summary>Weight rows not a multiple of 8, activation rows not a multiple of 4, K of one block and of many.</summary>
    private static readonly (int M, int N, int K)[] Shapes = [(8, 8, 32), (9, 37, 256), (13, 67, 768), (33, 130, 1024), (70, 21, 512), (11, 13, 32)];

    private static readonly KernelIsa[] Isas = [.. new[] { KernelIsa.Avx512, KernelIsa.Avx2, KernelIsa.Scalar }.Where(KernelOptions.IsSupported)];

    public static TheoryData<DType> Types()
    {
        var data = new TheoryData<DType>();
        foreach (var t in TileTypes) data.Add(t);
        return data;
    }

    [Fact]
    public void Q4_0UsesTheInt8GemmOnEveryIsaBelow32RowsAndFromThereOnOnAvx512()
    {
        Assert.Contains(DType.Q4_0, TileTypes);
        foreach (var isa in Isas)
        {
            using var scope = new KernelScope(isa, 1);
            Assert.True(QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, QuantizedMatMul.Int8GemmMinRows), $"{isa}");
            Assert.True(QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, MatMul.QuantizedGemmMinRows - 1), $"{isa}");
            Assert.Equal(isa == KernelIsa.Avx512, QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, 512));
            Assert.False(QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, QuantizedMatMul.Int8GemmMinRows - 1), $"{isa}");
            try
            {
                KernelOptions.Int8Gemm = false;
                Assert.False(QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, 512), $"{isa}");
            }
            finally { KernelOptions.Int8Gemm = true; }
        }
    }

    /// <summary>
    /// <see cref="ExecutionOptions.Int8Gemm"/> is per scope: inside a scope that turns it off this thread takes the fp32
    /// route (the bits of the process-wide switch turned off), while another thread at the same moment keeps the int8 GEMM.
    /// </summary>
    [OracleFact]
    public void TheInt8GemmSwitchIsPerExecutionScope()
    {
        const int m = 40, n = 24, k = 256;
        var rng = new Random(5);
        using var w = QuantizedTensor.Create(DType.Q4_0, n, k, rng);
        float[] a = BlockTypes.RandomWeights(rng, m * k);
        for (int i = 0; i < a.Length; i++) a[i] *= 20;
        float[] int8 = new float[m * n], fp32 = new float[m * n], scoped = new float[m * n], other = new float[m * n];
        MatMul.Multiply(a, m, w.View, int8);
        try
        {
            KernelOptions.Int8Gemm = false;
            MatMul.Multiply(a, m, w.View, fp32);
        }
        finally { KernelOptions.Int8Gemm = true; }
        // Where the int8 GEMM replaces the fp32 GEMM at 40 rows (AVX-512) the two routes round differently, so the
        // products below tell them apart; elsewhere the routing checks at 16 rows still do.
        if (QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, m)) Assert.NotEqual(int8, fp32);
        bool otherRoutes = false;
        using (KernelOptions.Use(new ExecutionOptions { Int8Gemm = false }))
        {
            Assert.False(KernelOptions.Current.Int8Gemm);
            Assert.False(QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, 16));
            var t = new Thread(() =>
            {
                otherRoutes = QuantizedMatMul.UsesInt8Gemm(DType.Q4_0, 16);
                MatMul.Multiply(a, m, w.View, other);
            });
            t.Start();
            MatMul.Multiply(a, m, w.View, scoped);
            t.Join();
        }
        Assert.True(otherRoutes);
        Assert.Equal(fp32, scoped);
        Assert.Equal(int8, other);
        Assert.True(KernelOptions.Int8Gemm);
    }

    [OracleTheory]
    [MemberData(nameof(Types))]
    public void RowsEqualDecodeBitForBitOnAnyThreadsAndMatchExactDot(DType type)
    {
        double worst = 0;
        foreach (var (m, n, k) in Shapes)
        {
            var rng = new Random(m * 7919 + n * 31 + k + (int)type);
            using var w = QuantizedTensor.Create(type, n, k, rng);
            float[] a = BlockTypes.RandomWeights(rng, m * k);
            for (int i = 0; i < a.Length; i++) a[i] *= 20;
            float[] aq = QuantizedOperands.Activations(type, a, m, k);
            float[]? reference = null;
            foreach (var isa in Isas)
            {
                // Where the int8 GEMM is not routed from 32 rows on (Int8GemmRoutes), its tiles are
                // checked on the first 31 activation rows.
                int mi = m;
                using (new KernelScope(isa, 1))
                    if (!QuantizedMatMul.UsesInt8Gemm(type, m)) mi = Math.Min(m, MatMul.QuantizedGemmMinRows - 1);
                var c = new float[mi * n];
                byte[]? first = null;
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    using var scope = new KernelScope(isa, threads);
                    Assert.True(QuantizedMatMul.UsesInt8Gemm(type, mi), $"{isa}");
                    MatMul.Multiply(a.AsSpan(0, mi * k), mi, w.View, c);
                    byte[] bytes = MemoryMarshal.AsBytes(c.AsSpan()).ToArray();
                    if (first is null) first = bytes;
                    else Assert.True(first.AsSpan().SequenceEqual(bytes), $"{isa} {type} M={mi} N={n} K={k}: {threads} threads differ from 1 thread");
                }
                reference ??= c;
                using (new KernelScope(isa, 1))
                {
                    var one = new float[n];
                    for (int i = 0; i < mi; i++)
                    {
                        MatMul.Multiply(a.AsSpan(i * k, k), 1, w.View, one);
                        for (int r = 0; r < n; r++)
                        {
                            Assert.True(BitConverter.SingleToInt32Bits(one[r]) == BitConverter.SingleToInt32Bits(c[i * n + r]),
                                $"{isa} {type} M={mi} N={n} K={k} [{i},{r}]: GEMM {c[i * n + r]:R} vs decode {one[r]:R}");
                            Assert.True(BitConverter.SingleToInt32Bits(reference[i * n + r]) == BitConverter.SingleToInt32Bits(c[i * n + r]),
                                $"{isa} {type} M={mi} N={n} K={k} [{i},{r}]: GEMM {c[i * n + r]:R} vs {Isas[0]} GEMM {reference[i * n + r]:R}");
                            var (exact, mag) = QuantizedOperands.ExactDot(w.Values, aq, r, i, k);
                            double err = Math.Abs(c[i * n + r] - exact);
                            Assert.True(err <= 2e-6 * mag + 1e-30, $"{isa} {type} M={mi} N={n} K={k} [{i},{r}]: {c[i * n + r]} vs exact {exact} (Σ|w·a| {mag})");
                            if (mag > 0) worst = Math.Max(worst, err / mag);
                        }
                    }
                }
            }
        }
        output.WriteLine($"{type} int8 GEMM on {string.Join(", ", Isas)}: max |Δ|/Σ|w·a| vs exact dot of dequantized operands {worst:E2}");
    }

    /// <summary>
    /// Splitting the activation rows over calls (each half through the GEMM, or a small remainder
    /// through the row quads) and starting the weight view one row later (every octet regrouped)
    /// give the same bits.
    /// </summary>
    [OracleTheory]
    [MemberData(nameof(Types))]
    public void ResultsDoNotDependOnMSplitOrNeighbouringRows(DType type)
    {
        const int n = 53, k = 512;
        var rng = new Random(97 + (int)type);
        using var w = QuantizedTensor.Create(type, n, k, rng);
        float[] a = BlockTypes.RandomWeights(rng, 45 * k);
        foreach (var isa in Isas)
        {
            // 45 rows where the int8 GEMM is routed from 32 rows on, else 31 (Int8GemmRoutes).
            int m;
            using (new KernelScope(isa, 1)) m = QuantizedMatMul.UsesInt8Gemm(type, 45) ? 45 : MatMul.QuantizedGemmMinRows - 1;
            MSplitAndNeighbours(type, isa, m, n, k, w, a);
        }
    }

    private static void MSplitAndNeighbours(DType type, KernelIsa isa, int m, int n, int k, QuantizedTensor w, float[] a)
    {
        using var scope = new KernelScope(isa, 2);
        var all = new float[m * n];
        MatMul.Multiply(a, m, w.View, all);
        foreach (int split in new[] { 8, 20, m - 4 })
        {
            var part = new float[m * n];
            MatMul.Multiply(a.AsSpan(0, split * k), split, w.View, part.AsSpan(0, split * n));
            MatMul.Multiply(a.AsSpan(split * k), m - split, w.View, part.AsSpan(split * n));
            Assert.True(MemoryMarshal.AsBytes(all.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(part.AsSpan())), $"{isa} {type}: split at {split} differs");
        }
        long rowBytes = w.View.RowByteLength;
        var shifted = new TensorView("w", type, [n - 1, k], w.View.Pointer + rowBytes, (n - 1) * rowBytes);
        var tail = new float[m * (n - 1)];
        MatMul.Multiply(a, m, shifted, tail);
        for (int i = 0; i < m; i++)
            for (int r = 1; r < n; r++)
                Assert.True(BitConverter.SingleToInt32Bits(all[i * n + r]) == BitConverter.SingleToInt32Bits(tail[i * (n - 1) + r - 1]),
                    $"{isa} {type} row {r} of {i}: {all[i * n + r]:R} vs {tail[i * (n - 1) + r - 1]:R} shifted by one row");
    }

}
