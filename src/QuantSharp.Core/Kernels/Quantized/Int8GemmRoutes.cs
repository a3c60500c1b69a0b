// Where prefill takes the int8 GEMM rather than the fp32 dequantizing GEMM: a per-type, per-ISA table of measurements.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The routing decision for products of <see cref="MatMul.QuantizedGemmMinRows"/> activation rows
/// or more, taken from `QuantSharp.Bench qgemm` (int8 GEMM vs fp32 GEMM over dequantized tiles,
/// one thread, interleaved rounds; figures in docs/quantized-inference.md). Below that row count
/// every type with GEMM tiles takes the int8 GEMM from <see cref="QuantizedMatMul.Int8GemmMinRows"/>
/// rows on: there it replaces the per-row integer kernels, with the same bits. Where this table
/// says no, M ≥ 32 products round differently from the M = 1 kernels (fp32 activations).
/// </summary>
internal static class Int8GemmRoutes
{
    /// <summary>Whether, from <see cref="MatMul.QuantizedGemmMinRows"/> rows on, <paramref name="t"/> on <paramref name="isa"/> takes the int8 GEMM.</summary>
    public static bool ReplacesFp32Gemm(DType t, KernelIsa isa) => (t, isa) switch
    {
        // AVX-512, 1 thread: 1.5–2.1× at M 32–64, 0.94–1.17× at M = 512 (shapes 512×512 … 2048×2048).
        (DType.Q4_0, KernelIsa.Avx512) => true,
        // AVX2 (256-bit vpmaddubsw, 8 MACs per instruction like an fp32 FMA): 0.7–0.8× at M ≥ 128;
        // scalar: 0.3× at M = 64. The fp32 GEMM stays.
        _ => false,
    };
}
