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
    /// <summary>
    /// Whether a product of <paramref name="m"/> ≥ <see cref="MatMul.QuantizedGemmMinRows"/> rows on
    /// <paramref name="t"/> weights takes the int8 GEMM on <paramref name="isa"/>.
    /// </summary>
    public static bool ReplacesFp32Gemm(DType t, KernelIsa isa, int m) => (t, isa) switch
    {
        // AVX-512, 1 thread, shapes 512×512, 1536×512, 2048×2048: 1.7–1.9× at M = 32, 1.1–1.2× at
        // M = 128, 0.96–1.18× at M = 512.
        (DType.Q4_0, KernelIsa.Avx512) => true,
        // AVX-512 (no vpsignb: signs by masked select, two vpmaddwd per quad): 1.35–2.0× at M = 32,
        // 1.03–1.13× at M = 64, 0.88–0.99× at M = 128, 0.82–0.89× at M = 512.
        (DType.Q8_0, KernelIsa.Avx512) => m < 128,
        // AVX2 (256-bit vpmaddubsw, 8 MACs per instruction like an fp32 FMA): Q4_0 0.7–0.8× at
        // M ≥ 128; scalar: Q4_0 0.3× at M = 64. The fp32 GEMM stays.
        _ => false,
    };

    /// <summary>
    /// Whether a product of <paramref name="m"/> ≥ <see cref="MatMul.QuantizedGemmMinRows"/> rows on
    /// <paramref name="t"/> weights stays on the AVX-512 row-quad tiles (<see cref="IQuantDot.QuadTiles"/>;
    /// types without the int8 GEMM tiles) instead of the fp32 GEMM.
    /// </summary>
    public static bool QuadTilesReplaceFp32Gemm(DType t, int m) => t switch
    {
        // `qgemm --types Q4_K,Q5_K,Q6_K --shapes 2816x1024,2048x2048 --m 32,128,512 --threads 1` (tiles written out
        // per quarter, dequantization branch-free): Q4_K 2.3-2.9x the fp32 GEMM at M = 32, 1.1-1.3x at 128, 0.97x at
        // 512; Q5_K 2.6-2.8x, 1.2-1.4x, 0.85x; Q6_K 1.4-1.5x at 32, 0.77x at 128. The int8 route also rounds the
        // activations as the M = 1 kernels and llama.cpp (Q8_K) do. (It was held back once because our Mixtral
        // fixture's Q4_K_M perplexity moved 0.54 % from llama.cpp's; that comparison had llama.cpp's F32 "oracle"
        // casting K/V to fp16 under flash attention, fixed since.)
        DType.Q4_K or DType.Q5_K => m < 256,
        DType.Q6_K => m < 64,
        // `qgemm --types Q2_K,Q3_K --shapes 2048x2048,8192x2048,2048x8192 --m 32,128,512 --rounds 5` (1 thread): Q2_K
        // 3.9-4.9x the fp32 GEMM at M = 32, 1.65-1.77x at 128, 0.96-1.03x at 512; Q3_K (whose dequantizing GEMM is slow)
        // 10.6-11.3x, 3.0-3.1x, 1.09-1.13x.
        DType.Q2_K => m < 512,
        DType.Q3_K => true,
        // `qgemm --types IQ4_XS --shapes 2048x2048,8192x2048,2048x8192 --m 32,48,64,96,128,512 --rounds 5`: 1.7-4.7x at
        // M = 32, 1.3-3.1x at 48, 1.08-1.09x at 64, 0.86x at 96, 0.73-0.75x at 128 (the tiles run at ~40 GMAC/s, the
        // fp32 GEMM reaches 53 at 128 and 77 at 512).
        DType.IQ4_XS => m <= 64,
        _ => false,
    };
}
