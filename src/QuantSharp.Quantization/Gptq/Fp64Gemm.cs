// The one fp64 matrix kernel GPTQ needs (C −= A·B), register-blocked, with FMA semantics on every path.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// Double-precision C −= A·B for GPTQ's lazy-batch update and the blocked Cholesky and triangular
/// inverse. Every element is computed as C − fma-chain(A[r,0]·B[0,c], …, A[r,k−1]·B[k−1,c]) starting
/// from zero, whether it falls in a 4×8 register tile, a narrower edge tile or the scalar tail, so
/// the result of an element never depends on how callers split rows or columns across threads.
/// (Sums longer than <see cref="KC"/> are taken in fixed passes, identical for every element.)
/// Single-threaded: callers parallelize over independent slices.
/// </summary>
internal static unsafe class Fp64Gemm
{
    /// <summary>Rows of B per pass: a packed 8-column strip of B (KC·8 doubles, 16 KiB) stays in L1.</summary>
    internal const int KC = 256;

    [ThreadStatic] private static double[]? t_strip;

    /// <summary>
    /// c[r, j] −= Σ_{p&lt;k} a[r, p]·b[p, j] for r &lt; m, j &lt; n (row strides lda, ldb, ldc). The sum runs
    /// in passes of <see cref="KC"/> values of p (each pass: a fused chain from zero, then subtracted
    /// from c), the same passes for every element.
    /// </summary>
    public static void SubtractProduct(double* a, int lda, double* b, int ldb, double* c, int ldc, int m, int n, int k)
    {
        if (m <= 0 || n <= 0 || k <= 0) return;
        var stripArray = t_strip ??= new double[KC * 8];
        fixed (double* strip = stripArray)
        {
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                double* ap = a + p0, bp = b + (nint)p0 * ldb;
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    // Packing makes the strip contiguous: B's rows are often 4 KiB apart, which maps
                    // every row of a strip to the same L1 set.
                    for (int p = 0; p < kc; p++)
                    {
                        double* src = bp + (nint)p * ldb + j;
                        Vector256.Load(src).Store(strip + 8 * p);
                        Vector256.Load(src + 4).Store(strip + 8 * p + 4);
                    }
                    int r = 0;
                    for (; r + 4 <= m; r += 4) Tile4x8(ap + (nint)r * lda, lda, strip, c + (nint)r * ldc + j, ldc, kc);
                    for (; r < m; r++) Tile1x8(ap + (nint)r * lda, strip, c + (nint)r * ldc + j, kc);
                }
                for (; j < n; j++)
                    for (int r = 0; r < m; r++) ScalarElement(ap + (nint)r * lda, bp + j, ldb, c + (nint)r * ldc + j, kc);
            }
        }
    }

    /// <summary>y[j] −= alpha·x[j] (fused), the GPTQ within-block update of one row.</summary>
    public static void SubtractScaled(double alpha, double* x, double* y, int n)
    {
        var na = Vector256.Create(-alpha);
        int j = 0;
        for (; j + 4 <= n; j += 4)
            Vector256.FusedMultiplyAdd(na, Vector256.Load(x + j), Vector256.Load(y + j)).Store(y + j);
        for (; j < n; j++) y[j] = Math.FusedMultiplyAdd(-alpha, x[j], y[j]);
    }

    /// <summary>Σ x[i]·y[i] with four vector accumulators then a fixed reduction order.</summary>
    public static double Dot(double* x, double* y, int n)
    {
        var s0 = Vector256<double>.Zero;
        var s1 = Vector256<double>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 4), Vector256.Load(y + i + 4), s1);
        }
        double sum = Vector256.Sum(s0 + s1);
        for (; i < n; i++) sum = Math.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4x8(double* a, int lda, double* b, double* c, int ldc, int k)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<double> c20 = default, c21 = default, c30 = default, c31 = default;
        double* a0 = a, a1 = a + lda, a2 = a + 2 * (nint)lda, a3 = a + 3 * (nint)lda;
        for (int p = 0; p < k; p++)
        {
            double* bp = b + 8 * p;
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + 4);
            var e = Vector256.Create(a0[p]);
            c00 = Vector256.FusedMultiplyAdd(e, b0, c00); c01 = Vector256.FusedMultiplyAdd(e, b1, c01);
            e = Vector256.Create(a1[p]);
            c10 = Vector256.FusedMultiplyAdd(e, b0, c10); c11 = Vector256.FusedMultiplyAdd(e, b1, c11);
            e = Vector256.Create(a2[p]);
            c20 = Vector256.FusedMultiplyAdd(e, b0, c20); c21 = Vector256.FusedMultiplyAdd(e, b1, c21);
            e = Vector256.Create(a3[p]);
            c30 = Vector256.FusedMultiplyAdd(e, b0, c30); c31 = Vector256.FusedMultiplyAdd(e, b1, c31);
        }
        Subtract(c, c00, c01);
        Subtract(c + ldc, c10, c11);
        Subtract(c + 2 * (nint)ldc, c20, c21);
        Subtract(c + 3 * (nint)ldc, c30, c31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile1x8(double* a, double* b, double* c, int k)
    {
        Vector256<double> c0 = default, c1 = default;
        for (int p = 0; p < k; p++)
        {
            double* bp = b + 8 * p;
            var e = Vector256.Create(a[p]);
            c0 = Vector256.FusedMultiplyAdd(e, Vector256.Load(bp), c0);
            c1 = Vector256.FusedMultiplyAdd(e, Vector256.Load(bp + 4), c1);
        }
        Subtract(c, c0, c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScalarElement(double* a, double* b, int ldb, double* c, int k)
    {
        double acc = 0;
        for (int p = 0; p < k; p++) acc = Math.FusedMultiplyAdd(a[p], b[(nint)p * ldb], acc);
        *c -= acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Subtract(double* c, Vector256<double> v0, Vector256<double> v1)
    {
        (Vector256.Load(c) - v0).Store(c);
        (Vector256.Load(c + 4) - v1).Store(c + 4);
    }
}
