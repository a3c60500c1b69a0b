// Blocked fp64 Cholesky and triangular inverse, and from them the upper Cholesky factor of H⁻¹ GPTQ sweeps with.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// Dense symmetric-positive-definite algebra in fp64 for GPTQ. Blocked by <see cref="PanelWidth"/>
/// so the O(n³) work runs in <see cref="Fp64Gemm"/>; parallel over fixed-size row or column slices,
/// so results do not depend on the thread count.
/// </summary>
internal static unsafe class CholeskyFactorization
{
    /// <summary>Columns per panel of the blocked algorithms.</summary>
    private const int PanelWidth = 64;

    /// <summary>Rows (or columns) per parallel work item.</summary>
    private const int SliceWidth = 32;

    /// <summary>
    /// The upper-triangular U with UᵀU = (H + λI)⁻¹ (row-major n×n, zeros below the diagonal), or
    /// null when H + λI is not numerically positive definite. This is what the reference computes as
    /// cholesky(cholesky_inverse(cholesky(H)), upper=True); here it comes from one Cholesky and one
    /// triangular inverse: with J the reversal permutation and JHJ = MMᵀ, H = (JMJ)(JMJ)ᵀ with JMJ
    /// upper, so H⁻¹ = (JM⁻¹J)ᵀ(JM⁻¹J) and U = JM⁻¹J (the factor is unique, diagonal positive).
    /// <paramref name="h"/> is left unchanged (the work happens in one new n×n array).
    /// </summary>
    public static double[]? UpperCholeskyOfInverse(ReadOnlySpan<double> h, int n, double lambda)
    {
        var a = h.Slice(0, n * n).ToArray();
        return TryUpperCholeskyOfInverseInPlace(a, n, lambda) ? a : null;
    }

    /// <summary>
    /// <see cref="UpperCholeskyOfInverse"/> in the storage of <paramref name="matrix"/> (symmetric
    /// H, row-major n×n), as LAPACK's dpotrf/dtrtri work, so the factorisation needs no second n×n
    /// array. True: <paramref name="matrix"/> holds U. False (not positive definite):
    /// <paramref name="matrix"/> holds H again, bit for bit, ready for a retry with more dampening.
    /// </summary>
    public static bool TryUpperCholeskyOfInverseInPlace(double[] matrix, int n, double lambda)
    {
        // JHJ is H read backwards (a 180° turn of the array); it stays symmetric, so its strict upper
        // triangle keeps a copy of the strict lower one while the factorisation overwrites the latter.
        var a = matrix.AsSpan(0, n * n);
        a.Reverse();
        var diagonal = new double[n];
        for (int i = 0; i < n; i++)
        {
            diagonal[i] = a[i * n + i];
            a[i * n + i] += lambda;
        }
        if (!FactorLower(matrix, n))
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < i; j++) a[i * n + j] = a[j * n + i];
                a[i * n + i] = diagonal[i];
            }
            a.Reverse();
            return false;
        }
        for (int i = 0; i < n; i++) a.Slice(i * n + i + 1, n - 1 - i).Clear();
        InvertLowerInPlace(matrix, n);
        // U[i, j] = X[n−1−i, n−1−j]: the lower-triangular inverse read backwards is upper triangular.
        a.Reverse();
        return true;
    }

    /// <summary>
    /// Lower Cholesky factor in place (reads and writes the lower triangle only; the strict upper
    /// triangle is left as it was). False when a pivot is not positive (or not finite).
    /// </summary>
    public static bool FactorLower(double[] matrix, int n)
    {
        var packed = new double[(long)PanelWidth * n];
        fixed (double* a = matrix)
        fixed (double* pt = packed)
        {
            double* A = a, Pt = pt;
            for (int k0 = 0; k0 < n; k0 += PanelWidth)
            {
                int k1 = Math.Min(k0 + PanelWidth, n), nb = k1 - k0;
                for (int j = k0; j < k1; j++)
                {
                    double* rj = A + (long)j * n + k0;
                    double s = A[(long)j * n + j] - Fp64Gemm.Dot(rj, rj, j - k0);
                    if (!(s > 0) || !double.IsFinite(s)) return false;
                    double djj = Math.Sqrt(s);
                    A[(long)j * n + j] = djj;
                    for (int i = j + 1; i < k1; i++)
                    {
                        double* ri = A + (long)i * n + k0;
                        A[(long)i * n + j] = (A[(long)i * n + j] - Fp64Gemm.Dot(ri, rj, j - k0)) / djj;
                    }
                }
                if (k1 == n) break;

                int rest = n - k1;
                int slices = (rest + SliceWidth - 1) / SliceWidth;
                // Panel below the diagonal block: a triangular solve per row.
                QuantSharp.Core.Kernels.ScopedParallel.For(0, slices, s =>
                {
                    int r0 = k1 + s * SliceWidth, r1 = Math.Min(n, r0 + SliceWidth);
                    for (int i = r0; i < r1; i++)
                    {
                        double* ri = A + (long)i * n + k0;
                        for (int c = k0; c < k1; c++)
                            A[(long)i * n + c] = (A[(long)i * n + c] - Fp64Gemm.Dot(ri, A + (long)c * n + k0, c - k0)) / A[(long)c * n + c];
                        // Transposed copy of the panel: the trailing update's right-hand factor.
                        for (int p = 0; p < nb; p++) Pt[(long)p * rest + (i - k1)] = ri[p];
                    }
                });
                // Trailing update A[k1:, k1:] −= P·Pᵀ, lower triangle only: the slice's rows left of its
                // diagonal block in one product, then the block's lower part row by row (the kernel's
                // result per element does not depend on the split).
                QuantSharp.Core.Kernels.ScopedParallel.For(0, slices, s =>
                {
                    int r0 = k1 + s * SliceWidth, r1 = Math.Min(n, r0 + SliceWidth);
                    Fp64Gemm.SubtractProduct(A + (long)r0 * n + k0, n, Pt, rest, A + (long)r0 * n + k1, n, r1 - r0, r0 - k1, nb);
                    for (int i = r0; i < r1; i++)
                        Fp64Gemm.SubtractProduct(A + (long)i * n + k0, n, Pt + (r0 - k1), rest, A + (long)i * n + r0, n, 1, i + 1 - r0, nb);
                });
            }
        }
        return true;
    }

    /// <summary>X = L⁻¹ for a lower-triangular L (lower triangle of <paramref name="lower"/>); zeros above the diagonal.</summary>
    public static double[] InvertLower(double[] lower, int n)
    {
        var result = new double[(long)n * n];
        for (int i = 0; i < n; i++) Array.Copy(lower, (long)i * n, result, (long)i * n, i + 1);
        InvertLowerInPlace(result, n);
        return result;
    }

    /// <summary>
    /// Overwrites a lower-triangular L (strict upper triangle zero) with X = L⁻¹, a block of rows at a
    /// time: the block's rows of L are copied to a panel first, since they are the input of the rows
    /// of X that replace them (the operations are the same as with separate storage).
    /// </summary>
    public static void InvertLowerInPlace(double[] matrix, int n)
    {
        var panel = new double[(long)PanelWidth * n];
        fixed (double* l = panel)
        fixed (double* x = matrix)
        {
            double* X = x, P = l;
            for (int i0 = 0; i0 < n; i0 += PanelWidth)
            {
                int i1 = Math.Min(i0 + PanelWidth, n);
                for (int i = i0; i < i1; i++)
                {
                    var row = new Span<double>(X + (long)i * n, i1);
                    row.CopyTo(new Span<double>(P + (long)(i - i0) * n, i1));
                    row.Clear();
                }
                double* L = P - (long)i0 * n; // L[i, c] = P[(i − i0)·n + c] for rows of this block
                if (i0 > 0)
                {
                    // X[I, :i0] = −L[I, :i0]·X[:i0, :i0]; X is lower triangular, so a strip of columns
                    // starting at c0 only needs rows p ≥ c0 of X.
                    int strips = (i0 + SliceWidth - 1) / SliceWidth;
                    QuantSharp.Core.Kernels.ScopedParallel.For(0, strips, s =>
                    {
                        int c0 = s * SliceWidth, c1 = Math.Min(i0, c0 + SliceWidth);
                        Fp64Gemm.SubtractProduct(L + (long)i0 * n + c0, n, X + (long)c0 * n + c0, n, X + (long)i0 * n + c0, n, i1 - i0, c1 - c0, i0 - c0);
                    });
                }
                // Forward substitution inside the block, row by row.
                for (int i = i0; i < i1; i++)
                {
                    double* xi = X + (long)i * n;
                    for (int p = i0; p < i; p++) Fp64Gemm.SubtractScaled(L[(long)i * n + p], X + (long)p * n, xi, p + 1);
                    xi[i] = 1;
                    double dii = L[(long)i * n + i];
                    for (int c = 0; c <= i; c++) xi[c] /= dii;
                }
            }
        }
    }
}
