// The error measures of a quantization report: relative weight error and relative output error on calibration inputs.
using QuantSharp.Core.Kernels;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Reporting;

/// <summary>
/// Relative errors of a quantized matrix Ŵ against its original W (both [rows × cols] row-major). Deterministic for any
/// thread count: per-row sums are taken in a fixed order and added row by row.
/// </summary>
public static class QuantizationErrors
{
    /// <summary>Rows per parallel work item of <see cref="RelativeOutputError"/>.</summary>
    private const int TileRows = 32;

    /// <summary>‖W − Ŵ‖_F / ‖W‖_F (0 for an all-zero W that stayed zero).</summary>
    public static double RelativeWeightError(ReadOnlySpan<float> original, ReadOnlySpan<float> quantized)
    {
        if (original.Length != quantized.Length)
            throw new ArgumentException($"{original.Length} original weights against {quantized.Length} quantized ones");
        double num = 0, den = 0;
        for (int i = 0; i < original.Length; i++)
        {
            double w = original[i], d = w - quantized[i];
            num += d * d;
            den += w * w;
        }
        return Ratio(num, den);
    }

    /// <summary>
    /// ‖XΔᵀ‖_F / ‖XWᵀ‖_F with Δ = W − Ŵ for the inputs X whose Gram matrix (any positive multiple of Σ x xᵀ, e.g. GPTQ's
    /// Hessian 2/n Σ x xᵀ) is <paramref name="gram"/> [cols × cols]: ‖XMᵀ‖_F² = Σ_r m_r G m_rᵀ, so the ratio is exact
    /// without the inputs themselves. Costs 2·rows·cols² multiply-adds in fp64.
    /// </summary>
    public static unsafe double RelativeOutputError(float[] original, float[] quantized, int rows, int cols, double[] gram)
    {
        if (original.Length != (long)rows * cols || quantized.Length != original.Length)
            throw new ArgumentException($"weights of {original.Length} and {quantized.Length} values for {rows}×{cols}");
        if (gram.Length != (long)cols * cols) throw new ArgumentException($"a Gram matrix of {gram.Length} values for {cols} columns");
        var weightForm = new double[rows];
        var errorForm = new double[rows];
        int tiles = (rows + TileRows - 1) / TileRows;
        ScopedParallel.For(0, tiles, () => (A: new double[2 * TileRows * cols], C: new double[2 * TileRows * cols]), (tile, buf) =>
        {
            int r0 = tile * TileRows, n = Math.Min(TileRows, rows - r0);
            // A = [W rows; Δ rows] of the tile; C = −A·G (from zero), then each row's m G mᵀ = −Σ_j C[r, j]·A[r, j].
            for (int r = 0; r < n; r++)
                for (int c = 0; c < cols; c++)
                {
                    double w = original[(long)(r0 + r) * cols + c];
                    buf.A[(long)r * cols + c] = w;
                    buf.A[(long)(n + r) * cols + c] = w - quantized[(long)(r0 + r) * cols + c];
                }
            Array.Clear(buf.C, 0, 2 * n * cols);
            fixed (double* a = buf.A)
            fixed (double* g = gram)
            fixed (double* cc = buf.C)
            {
                Fp64Gemm.SubtractProduct(a, cols, g, cols, cc, cols, 2 * n, cols, cols);
                for (int r = 0; r < n; r++)
                {
                    weightForm[r0 + r] = -Fp64Gemm.Dot(cc + (long)r * cols, a + (long)r * cols, cols);
                    errorForm[r0 + r] = -Fp64Gemm.Dot(cc + (long)(n + r) * cols, a + (long)(n + r) * cols, cols);
                }
            }
        });
        double num = 0, den = 0;
        for (int r = 0; r < rows; r++)
        {
            num += errorForm[r];
            den += weightForm[r];
        }
        return Ratio(Math.Max(num, 0), Math.Max(den, 0));
    }

    /// <summary><paramref name="value"/> rounded to six significant digits (what reports and logs print).</summary>
    public static double Rounded(double value) =>
        double.IsFinite(value) ? double.Parse(value.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture) : value;

    private static double Ratio(double num, double den) => den > 0 ? Math.Sqrt(num / den) : num > 0 ? double.PositiveInfinity : 0;
}
