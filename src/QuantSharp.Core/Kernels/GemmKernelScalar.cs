// Scalar GEMM microkernel: 4 activation rows × 4 weight rows, for CPUs without usable SIMD.
using System.Runtime.CompilerServices;

namespace QuantSharp.Core.Kernels;

/// <summary>4×4 outer-product kernel in plain floats (multiply then add, never fused).</summary>
internal readonly unsafe struct GemmKernelScalar : IGemmKernel
{
    public static int MR => 4;
    public static int NR => 4;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Full(float* a, nint lda, float* b, int kc, float* c, nint ldc, bool accumulate)
    {
        for (int r = 0; r < 4; r++)
            Row(a + r * lda, b, kc, c + r * ldc, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* a, float* b, int kc, float* c, bool accumulate)
    {
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        if (accumulate) { c0 = c[0]; c1 = c[1]; c2 = c[2]; c3 = c[3]; }
        for (nint k = 0; k < kc; k++)
        {
            float x = a[k];
            c0 += x * b[0]; c1 += x * b[1]; c2 += x * b[2]; c3 += x * b[3];
            b += 4;
        }
        c[0] = c0; c[1] = c1; c[2] = c2; c[3] = c3;
    }
}
