// MatMul on ggml-quantized weights, every block type and ISA path, against double-precision references.
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Kernels;

[Collection(KernelOptionsCollection.Name)]
[Trait("Category", "Oracle")]
public sealed unsafe class QuantizedMatMulTests(ITestOutputHelper output)
{
    private static readonly (int M, int N, int K)[] Shapes = [(1, 67, 256), (1, 1100, 1024), (3, 33, 512), (7, 129, 768), (17, 64, 256)];

    public static TheoryData<KernelIsa, DType> IsaAndType()
    {
        var data = new TheoryData<KernelIsa, DType>();
        foreach (var isa in new[] { KernelIsa.Avx512, KernelIsa.Avx2, KernelIsa.Vector128, KernelIsa.Scalar })
            foreach (var t in BlockTypes.All)
                if (t != DType.Q8_K) data.Add(isa, t);
        return data;
    }

    /// <summary>
    /// (a) against ggml-dequantized weights × the activations exactly as the kernel quantized them
    /// (only fp32 rounding differs: 1e-5 of Σ|w·a|), and (b) against the unquantized activations,
    /// where the bound is the activation rounding itself: Σ|w|·(block max|a|)/254.
    /// </summary>
    [OracleTheory]
    [MemberData(nameof(IsaAndType))]
    public void MatchesDequantizedReference(KernelIsa isa, DType type)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        double worstA = 0, worstB = 0;
        foreach (var (m, n, k) in Shapes)
        {
            var rng = new Random(m * 1000 + n + k + (int)type);
            using var w = QuantizedTensor.Create(type, n, k, rng);
            float[] a = BlockTypes.RandomWeights(rng, m * k);
            for (int i = 0; i < a.Length; i++) a[i] *= 20;
            var c = new float[m * n];
            MatMul.Multiply(a, m, w.View, c);

            float[] aq = QuantizedOperands.Activations(type, a, m, k);
            for (int i = 0; i < m; i++)
            {
                for (int r = 0; r < n; r++)
                {
                    double exact = 0, exactQ = 0, mag = 0, actBound = 0;
                    for (int x = 0; x < k; x++)
                    {
                        double wv = w.Values[(long)r * k + x];
                        exact += wv * a[i * k + x];
                        exactQ += wv * aq[i * k + x];
                        mag += Math.Abs(wv * a[i * k + x]);
                        actBound += Math.Abs(wv) * BlockMax(a, i * k, x, type) / 254;
                    }
                    double got = c[i * n + r];
                    double errA = Math.Abs(got - exactQ), errB = Math.Abs(got - exact);
                    Assert.True(errA <= 1e-5 * mag + 1e-30, $"{isa} {type} M={m} N={n} K={k} [{i},{r}]: {got} vs {exactQ} (Σ|w·a| {mag})");
                    Assert.True(errB <= actBound * 1.001 + 1e-5 * mag, $"{isa} {type} M={m} N={n} K={k} [{i},{r}]: {got} vs fp32 {exact} (bound {actBound})");
                    if (mag > 0) { worstA = Math.Max(worstA, errA / mag); worstB = Math.Max(worstB, errB / mag); }
                }
            }
        }
        output.WriteLine($"{isa} {type} ({(QuantizedMatMul.HasIntegerKernel(type) ? "integer kernel" : "dequantizing fallback")}): max |Δ|/Σ|w·a| vs Q8 activations {worstA:E2}, vs fp32 activations {worstB:E2}");
    }

    /// <summary>
    /// From <see cref="MatMul.QuantizedGemmMinRows"/> rows on, weights without int8 GEMM tiles are
    /// dequantized tile by tile into the fp32 GEMM: the result must match the ggml-dequantized
    /// weights × the unquantized activations up to fp32 rounding, on shapes with ragged tiles and
    /// several K blocks, and be byte-identical on 1, 2 and 3 threads. The int8 GEMM is switched off
    /// here so that every type's fp32 path is covered (Int8GemmTests covers the int8 one).
    /// </summary>
    [OracleTheory]
    [MemberData(nameof(IsaAndType))]
    public void GemmPathMatchesDequantizedReference(KernelIsa isa, DType type)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        KernelOptions.Int8Gemm = false;
        try { Fp32GemmPathMatchesDequantizedReference(isa, type); }
        finally { KernelOptions.Int8Gemm = true; }
    }

    private void Fp32GemmPathMatchesDequantizedReference(KernelIsa isa, DType type)
    {
        double worst = 0;
        foreach (var (m, n, k) in new[] { (MatMul.QuantizedGemmMinRows, 67, 256), (45, 130, 768), (70, 300, 1024) })
        {
            var rng = new Random(m * 1000 + n + k + (int)type);
            using var w = QuantizedTensor.Create(type, n, k, rng);
            float[] a = BlockTypes.RandomWeights(rng, m * k);
            for (int i = 0; i < a.Length; i++) a[i] *= 20;
            byte[]? first = null;
            var c = new float[m * n];
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var scope = new KernelScope(isa, threads);
                MatMul.Multiply(a, m, w.View, c);
                byte[] bytes = MemoryMarshal.AsBytes(c.AsSpan()).ToArray();
                if (first is null) first = bytes;
                else Assert.True(first.AsSpan().SequenceEqual(bytes), $"{isa} {type} M={m}: {threads} threads differ from 1 thread");
            }
            for (int i = 0; i < m; i++)
                for (int r = 0; r < n; r++)
                {
                    var (exact, mag) = QuantizedOperands.ExactDot(w.Values, a, r, i, k);
                    double err = Math.Abs(c[i * n + r] - exact);
                    Assert.True(err <= 1e-5 * mag + 1e-30, $"{isa} {type} M={m} N={n} K={k} [{i},{r}]: {c[i * n + r]} vs {exact} (Σ|w·a| {mag})");
                    if (mag > 0) worst = Math.Max(worst, err / mag);
                }
        }
        output.WriteLine($"{isa} {type} GEMM path: max |Δ|/Σ|w·a| vs dequantized weights × fp32 activations {worst:E2}");
    }

    /// <summary>Same inputs on 1, 2, 3 and default threads give identical bytes, and each row of an M-row product equals its M = 1 product.</summary>
    [OracleTheory]
    [MemberData(nameof(IsaAndType))]
    public void ResultsDoNotDependOnThreadsOrTiles(KernelIsa isa, DType type)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        const int m = 6, n = 700, k = 1024;
        var rng = new Random((int)type);
        using var w = QuantizedTensor.Create(type, n, k, rng);
        float[] a = BlockTypes.RandomWeights(rng, m * k);
        byte[]? first = null;
        float[] c = new float[m * n];
        foreach (int threads in new[] { 1, 2, 3, 0 })
        {
            using var scope = new KernelScope(isa, threads);
            MatMul.Multiply(a, m, w.View, c);
            byte[] bytes = MemoryMarshal.AsBytes(c.AsSpan()).ToArray();
            if (first is null) first = bytes;
            else Assert.True(first.AsSpan().SequenceEqual(bytes), $"{isa} {type}: {threads} threads differ from 1 thread");
        }
        using (new KernelScope(isa, 0))
        {
            var one = new float[n];
            for (int i = 0; i < m; i++)
            {
                MatMul.Multiply(a.AsSpan(i * k, k), 1, w.View, one);
                Assert.Equal(c.AsSpan(i * n, n).ToArray(), one);
            }
        }
    }

    /// <summary>
    /// A weight row's output does not depend on its neighbours: the same rows multiplied as part of
    /// a view that starts one row later (so every AVX-512 row quad is grouped differently, and the
    /// ragged last quad changes) give the same bits, for M = 1 and M = 3.
    /// </summary>
    [OracleTheory]
    [MemberData(nameof(IsaAndType))]
    public void RowResultsDoNotDependOnNeighbouringRows(KernelIsa isa, DType type)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        const int n = 37, k = 512;
        var rng = new Random(31 + (int)type);
        using var w = QuantizedTensor.Create(type, n, k, rng);
        long rowBytes = w.View.RowByteLength;
        var shifted = new TensorView("w", type, [n - 1, k], w.View.Pointer + rowBytes, (n - 1) * rowBytes);
        using var scope = new KernelScope(isa, 1);
        foreach (int m in new[] { 1, 3 })
        {
            float[] a = BlockTypes.RandomWeights(rng, m * k);
            var all = new float[m * n];
            var tail = new float[m * (n - 1)];
            MatMul.Multiply(a, m, w.View, all);
            MatMul.Multiply(a, m, shifted, tail);
            for (int i = 0; i < m; i++)
                for (int r = 1; r < n; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(all[i * n + r]) == BitConverter.SingleToInt32Bits(tail[i * (n - 1) + r - 1]),
                        $"{isa} {type} M={m} row {r} of {i}: {all[i * n + r]:R} alone vs {tail[i * (n - 1) + r - 1]:R} shifted by one row");
        }
    }

    [Fact]
    public void RejectsActivationOnlyType()
    {
        var bytes = new byte[292];
        fixed (byte* p = bytes)
        {
            var q8k = new TensorView("w", DType.Q8_K, [1, 256], p, bytes.Length);
            Assert.Throws<NotSupportedException>(() => MatMul.Multiply(new float[256], 1, q8k, new float[1]));
        }
    }


    /// <summary>max|a| over the activation block holding column <paramref name="x"/> (0 for the fp32 fallback).</summary>
    private static double BlockMax(float[] a, int rowStart, int x, DType type)
    {
        if (QuantizedMatMul.SuperBlockActivations(type) is not bool super) return 0;
        int bs = super ? 256 : 32, b0 = rowStart + x / bs * bs;
        double mx = 0;
        for (int i = 0; i < bs; i++) mx = Math.Max(mx, Math.Abs(a[b0 + i]));
        return mx;
    }
}

/// <summary>ggml-quantized weights in native memory, with their ggml-exact dequantized values.</summary>
internal sealed unsafe class QuantizedTensor : IDisposable
{
    private byte* _p;

    private QuantizedTensor(DType type, int rows, int cols, byte[] data)
    {
        _p = (byte*)NativeMemory.AlignedAlloc((nuint)data.Length, 64);
        data.CopyTo(new Span<byte>(_p, data.Length));
        View = new TensorView("w", type, [rows, cols], _p, data.Length);
        Values = new float[(long)rows * cols];
        BlockDequantizer.DequantizeRow(type, data, Values);
    }

    public static QuantizedTensor Create(DType type, int rows, int cols, Random rng)
        => new(type, rows, cols, BlockTypes.Quantize(type, BlockTypes.RandomWeights(rng, rows * cols), rows, cols));

    public TensorView View { get; }
    public float[] Values { get; }

    public void Dispose()
    {
        if (_p != null) { NativeMemory.AlignedFree(_p); _p = null; }
    }
}
