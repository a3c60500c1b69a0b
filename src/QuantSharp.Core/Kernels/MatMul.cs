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
}
