// Portable 128-bit GEMM microkernel (SSE / AdvSimd): 4 activation rows × 8 weight rows.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// 4×8 outer-product kernel with 8 accumulators, small enough for 16 xmm registers.
/// MultiplyAddEstimate fuses where the CPU has FMA and is consistent within one machine.
/// </summary>
internal readonly unsafe struct GemmKernel128 : IGemmKernel
{
    public static int MR => 4;
    public static int NR => 8;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Full(float* a, nint lda, float* b, int kc, float* c, nint ldc, bool accumulate)
    {
        Vector128<float> c00, c01, c10, c11, c20, c21, c30, c31;
        if (accumulate)
        {
            c00 = Vector128.Load(c); c01 = Vector128.Load(c + 4);
            c10 = Vector128.Load(c + ldc); c11 = Vector128.Load(c + ldc + 4);
            c20 = Vector128.Load(c + 2 * ldc); c21 = Vector128.Load(c + 2 * ldc + 4);
            c30 = Vector128.Load(c + 3 * ldc); c31 = Vector128.Load(c + 3 * ldc + 4);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = default;
        }
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (nint k = 0; k < kc; k++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            b += 8;
            var x = Vector128.Create(a0[k]);
            c00 = Vector128.MultiplyAddEstimate(x, b0, c00); c01 = Vector128.MultiplyAddEstimate(x, b1, c01);
            x = Vector128.Create(a1[k]);
            c10 = Vector128.MultiplyAddEstimate(x, b0, c10); c11 = Vector128.MultiplyAddEstimate(x, b1, c11);
            x = Vector128.Create(a2[k]);
            c20 = Vector128.MultiplyAddEstimate(x, b0, c20); c21 = Vector128.MultiplyAddEstimate(x, b1, c21);
            x = Vector128.Create(a3[k]);
            c30 = Vector128.MultiplyAddEstimate(x, b0, c30); c31 = Vector128.MultiplyAddEstimate(x, b1, c31);
        }
        c00.Store(c); c01.Store(c + 4);
        c10.Store(c + ldc); c11.Store(c + ldc + 4);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 4);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* a, float* b, int kc, float* c, bool accumulate)
    {
        Vector128<float> c0 = default, c1 = default;
        if (accumulate) { c0 = Vector128.Load(c); c1 = Vector128.Load(c + 4); }
        for (nint k = 0; k < kc; k++)
        {
            var x = Vector128.Create(a[k]);
            c0 = Vector128.MultiplyAddEstimate(x, Vector128.Load(b), c0);
            c1 = Vector128.MultiplyAddEstimate(x, Vector128.Load(b + 4), c1);
            b += 8;
        }
        c0.Store(c); c1.Store(c + 4);
    }
}
