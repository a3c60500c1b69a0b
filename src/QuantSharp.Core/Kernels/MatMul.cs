// Entry point of the dense matrix products used by the forward pass: C = A · Wᵀ.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Dense products for linear layers. Weights are [N, K] row-major (PyTorch's Linear layout), in
/// F32, F16 or BF16, or a ggml block-quantized type (never dequantized as a whole: for M below
/// <see cref="QuantizedGemmMinRows"/> multiplied block by block in integers after quantizing the
/// activations to int8; from there on, tile by tile in the fp32 GEMM); activations and results are
/// fp32, row-major: C[M, N] = A[M, K] · W[N, K]ᵀ.
/// The instruction set and thread count come from <see cref="KernelOptions"/>; for a given ISA
/// the result is bit-identical whatever the thread count.
/// </summary>
public static class MatMul
{
    /// <summary>
    /// From this many activation rows on, block-quantized weights whose int8 GEMM is not routed for
    /// the current ISA (<see cref="KernelOptions.Int8Gemm"/>; the per-type table is Int8GemmRoutes)
    /// go through the fp32 GEMM: each
    /// weight tile is dequantized once (exactly, as ggml does) and reused for all rows, which beats
    /// per-row integer dots once the dequantization is spread over enough rows (prefill).
    /// Below it (decode, small batches), activations are quantized to int8 and meet the weight
    /// blocks in integer dot products, as ggml's vec_dot does.
    /// </summary>
    public const int QuantizedGemmMinRows = 32;

    /// <summary>Whether <see cref="Multiply"/> accepts weights of <paramref name="type"/>.</summary>
    public static bool SupportsWeights(DType type) => DTypeInfo.IsFloat(type) || (DTypeInfo.IsBlockQuantized(type) && Quantized.QuantizedMatMul.Supports(type));

    /// <summary>C[m, n] = Σ_k A[m, k] · W[n, k]. Multi-threaded; M = 1 takes the GEMV path.</summary>
    /// <param name="a">Activations, at least <paramref name="m"/>×K elements, row-major.</param>
    /// <param name="m">Number of activation rows (tokens).</param>
    /// <param name="w">Weights [N, K] in F32, F16, BF16 or a block type other than Q8_K (K a whole number of blocks).</param>
    /// <param name="c">Output, at least <paramref name="m"/>×N elements, row-major; overwritten.</param>
    public static unsafe void Multiply(ReadOnlySpan<float> a, int m, TensorView w, Span<float> c)
    {
        bool quantized = DTypeInfo.IsBlockQuantized(w.DType);
        if (!SupportsWeights(w.DType))
            throw new NotSupportedException($"tensor '{w.Name}': MatMul on {w.DType} weights");
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        int n = checked((int)w.Rows), k = checked((int)w.Columns);
        if (a.Length < (long)m * k) throw new ArgumentException($"A has {a.Length} elements, needs {m}×{k}");
        if (c.Length < (long)m * n) throw new ArgumentException($"C has {c.Length} elements, needs {m}×{n}");
        if (m == 0 || n == 0) return;
        if (k == 0) { c[..(m * n)].Clear(); return; }
        if (quantized && k % DTypeInfo.BlockSize(w.DType) != 0)
            throw new ArgumentException($"tensor '{w.Name}': K = {k} is not a whole number of {w.DType} blocks");
        fixed (float* pa = &MemoryMarshal.GetReference(a))
        fixed (float* pc = &MemoryMarshal.GetReference(c))
        {
            if (quantized && (m < QuantizedGemmMinRows || Quantized.QuantizedMatMul.UsesInt8Gemm(w.DType, m) || Quantized.QuantizedMatMul.UsesQuadTiles(w.DType, m)))
                Quantized.QuantizedMatMul.Run(pa, m, w, n, k, pc);
            else if (m == 1) Gemv.Run(pa, w, n, k, pc);
            else Gemm.Run(pa, m, w, n, k, pc);
        }
    }

    /// <summary>
    /// Products that read the same activations (q/k/v, gate/up): C0 = A·W0ᵀ, C1 = A·W1ᵀ. Same results as two
    /// <see cref="Multiply"/> calls, bit for bit; for few rows on quantized weights they run as one parallel call
    /// that quantizes A once (see <see cref="MultiplyBatch"/>).
    /// </summary>
    public static unsafe void MultiplyShared(ReadOnlySpan<float> a, int m, TensorView w0, Span<float> c0, TensorView w1, Span<float> c1)
    {
        if (!Batchable(m, w0, w1))
        {
            Multiply(a, m, w0, c0);
            Multiply(a, m, w1, c1);
            return;
        }
        int k = checked((int)w0.Columns);
        CheckOperands(a, m, k, w0, c0);
        CheckOperands(a, m, k, w1, c1);
        fixed (float* pa = &MemoryMarshal.GetReference(a))
        fixed (float* p0 = &MemoryMarshal.GetReference(c0))
        fixed (float* p1 = &MemoryMarshal.GetReference(c1))
        {
            Span<nint> inputs = [(nint)pa, (nint)pa];
            Span<nint> outputs = [(nint)p0, (nint)p1];
            ReadOnlySpan<TensorView> weights = [w0, w1];
            Quantized.QuantizedMatMul.RunBatch(inputs, m, weights, k, outputs);
        }
    }

    /// <summary>Three products that read the same activations: C_i = A·W_iᵀ (see the two-product overload).</summary>
    public static unsafe void MultiplyShared(ReadOnlySpan<float> a, int m, TensorView w0, Span<float> c0, TensorView w1, Span<float> c1,
        TensorView w2, Span<float> c2)
    {
        if (!Batchable(m, w0, w1, w2))
        {
            Multiply(a, m, w0, c0);
            Multiply(a, m, w1, c1);
            Multiply(a, m, w2, c2);
            return;
        }
        int k = checked((int)w0.Columns);
        CheckOperands(a, m, k, w0, c0);
        CheckOperands(a, m, k, w1, c1);
        CheckOperands(a, m, k, w2, c2);
        fixed (float* pa = &MemoryMarshal.GetReference(a))
        fixed (float* p0 = &MemoryMarshal.GetReference(c0))
        fixed (float* p1 = &MemoryMarshal.GetReference(c1))
        fixed (float* p2 = &MemoryMarshal.GetReference(c2))
        {
            Span<nint> inputs = [(nint)pa, (nint)pa, (nint)pa];
            Span<nint> outputs = [(nint)p0, (nint)p1, (nint)p2];
            ReadOnlySpan<TensorView> weights = [w0, w1, w2];
            Quantized.QuantizedMatMul.RunBatch(inputs, m, weights, k, outputs);
        }
    }

    /// <summary>
    /// A batch of products of <paramref name="m"/> rows each and one K: C_i = A_i·W_iᵀ for W_i =
    /// <paramref name="weights"/>[i], A_i the m×K rows at <paramref name="a"/>[i·<paramref name="aStride"/>..]
    /// (aStride 0: all products read the same rows) and C_i the m×N_i rows at
    /// <paramref name="c"/>[i·<paramref name="cStride"/>..]. Results are bit-identical to one <see cref="Multiply"/>
    /// per product. For few rows (decode) on quantized weights with integer kernels the batch is one parallel call:
    /// the workers start and join once instead of per product, and shared rows are quantized to int8 once — a
    /// decode step of a mixture of experts multiplies k experts' gate and up projections (and then their down
    /// projections) this way.
    /// </summary>
    public static unsafe void MultiplyBatch(ReadOnlySpan<float> a, int aStride, int m, ReadOnlySpan<TensorView> weights, Span<float> c, int cStride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(aStride);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        int count = weights.Length;
        if (count == 0) return;
        int k = checked((int)weights[0].Columns);
        for (int i = 0; i < count; i++)
        {
            if (weights[i].Columns != k)
                throw new ArgumentException($"tensor '{weights[i].Name}': {weights[i].Columns} columns, the batch's first weight has {k}");
            long n = weights[i].Rows;
            if ((long)m * n > cStride && i < count - 1)
                throw new ArgumentException($"tensor '{weights[i].Name}': {m}×{n} outputs do not fit the output stride {cStride}");
        }
        long aNeed = (long)(count - 1) * aStride + (long)m * k, cNeed = (long)(count - 1) * cStride + m * weights[count - 1].Rows;
        if (a.Length < aNeed) throw new ArgumentException($"A has {a.Length} elements, the batch reads {aNeed}");
        if (c.Length < cNeed) throw new ArgumentException($"C has {c.Length} elements, the batch writes {cNeed}");
        bool batch = m > 0 && k > 0;
        for (int i = 0; i < count && batch; i++) batch = Batchable(m, weights[i]) && k % DTypeInfo.BlockSize(weights[i].DType) == 0;
        if (!batch)
        {
            for (int i = 0; i < count; i++)
                Multiply(a.Slice(i * aStride, m * k), m, weights[i], c.Slice(i * cStride, checked((int)(m * weights[i].Rows))));
            return;
        }
        fixed (float* pa = &MemoryMarshal.GetReference(a))
        fixed (float* pc = &MemoryMarshal.GetReference(c))
        {
            Span<nint> inputs = count <= 32 ? stackalloc nint[count] : new nint[count];
            Span<nint> outputs = count <= 32 ? stackalloc nint[count] : new nint[count];
            for (int i = 0; i < count; i++)
            {
                inputs[i] = (nint)(pa + (nint)i * aStride);
                outputs[i] = (nint)(pc + (nint)i * cStride);
            }
            Quantized.QuantizedMatMul.RunBatch(inputs, m, weights, k, outputs);
        }
    }

    /// <summary>Whether products of <paramref name="m"/> rows on these weights (one K) run as one batch.</summary>
    private static bool Batchable(int m, TensorView w0, TensorView w1, TensorView w2)
        => Batchable(m, w0, w1) && Batchable(m, w2) && w2.Columns == w0.Columns;

    private static bool Batchable(int m, TensorView w0, TensorView w1)
        => Batchable(m, w0) && Batchable(m, w1) && w1.Columns == w0.Columns;

    private static bool Batchable(int m, TensorView w)
        => m > 0 && w.Columns > 0 && DTypeInfo.IsBlockQuantized(w.DType) && Quantized.QuantizedMatMul.Supports(w.DType)
           && Quantized.QuantizedMatMul.Batches(w.DType, m) && w.Columns % DTypeInfo.BlockSize(w.DType) == 0
           && w.Columns <= int.MaxValue && w.Rows <= int.MaxValue;

    /// <summary>The checks <see cref="Multiply"/> makes, for one product of a batch.</summary>
    private static void CheckOperands(ReadOnlySpan<float> a, int m, int k, TensorView w, Span<float> c)
    {
        if (a.Length < (long)m * k) throw new ArgumentException($"A has {a.Length} elements, needs {m}×{k}");
        if (c.Length < m * w.Rows) throw new ArgumentException($"tensor '{w.Name}': C has {c.Length} elements, needs {m}×{w.Rows}");
    }
}
