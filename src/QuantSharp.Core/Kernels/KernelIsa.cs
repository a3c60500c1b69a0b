// Instruction-set levels the dense kernels are written for; lets tests force each fallback path.
namespace QuantSharp.Core.Kernels;

/// <summary>Which vector instruction set the kernels use.</summary>
public enum KernelIsa
{
    /// <summary>The widest level the running CPU supports.</summary>
    Auto,
    /// <summary>512-bit vectors (AVX-512F, BW and VL on x86).</summary>
    Avx512,
    /// <summary>256-bit vectors with FMA (AVX2 + FMA on x86).</summary>
    Avx2,
    /// <summary>Portable 128-bit vectors (SSE4.1 on x86, AdvSimd on Arm).</summary>
    Vector128,
    /// <summary>Plain scalar code; runs everywhere.</summary>
    Scalar,
}
