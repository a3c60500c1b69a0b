// Contract of a register-blocked GEMM microkernel, so one blocked driver serves every ISA.
namespace QuantSharp.Core.Kernels;

/// <summary>
/// An outer-product microkernel over a packed weight panel. The panel holds <see cref="NR"/>
/// weight rows transposed to k-major order: element (k, j) at <c>b[k * NR + j]</c>. For each k
/// the kernel broadcasts A[r, k] and multiply-adds it into the accumulators of C[r, 0..NR).
/// Every C element is therefore a single chain of multiply-adds in increasing k, whatever the
/// tiling: that is what makes results independent of how work is split between threads.
/// Implemented by structs so the JIT specialises the driver per kernel.
/// </summary>
internal unsafe interface IGemmKernel
{
    /// <summary>Activation rows per full microkernel call.</summary>
    static abstract int MR { get; }

    /// <summary>Weight rows (output columns) per panel.</summary>
    static abstract int NR { get; }

    /// <summary>C[0..MR, 0..NR] = (accumulate ? C : 0) + A[0..MR, 0..kc] · panel.</summary>
    static abstract void Full(float* a, nint lda, float* b, int kc, float* c, nint ldc, bool accumulate);

    /// <summary>The same for a single activation row, with the same per-element arithmetic.</summary>
    static abstract void Row(float* a, float* b, int kc, float* c, bool accumulate);
}
