// The layer-wise GPTQ objective tr((W−Q)H(W−Q)ᵀ) and H = 2/n XᵀX at real-layer sizes, via the fp64 kernel.
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Tests.Gptq;

internal static unsafe class LayerObjective
{
    /// <summary>tr((W−Q)H(W−Q)ᵀ).</summary>
    public static double Of(float[] weight, float[] quantized, int rows, int cols, double[] hessian)
    {
        var d = new double[(long)rows * cols];
        for (long i = 0; i < d.Length; i++) d[i] = weight[i] - quantized[i];
        var dh = new double[(long)rows * cols];
        fixed (double* pd = d, ph = hessian, pdh = dh)
        {
            // dh = −D·H, accumulated by the same kernel GPTQ uses.
            Fp64Gemm.SubtractProduct(pd, cols, ph, cols, pdh, cols, rows, cols, cols);
        }
        double total = 0;
        for (long i = 0; i < d.Length; i++) total -= d[i] * dh[i];
        return total;
    }

    /// <summary>2/n XᵀX for n rows of x (row-major n × cols).</summary>
    public static double[] Hessian(float[] x, int n, int cols)
    {
        var xt = new double[(long)cols * n];
        var xd = new double[(long)n * cols];
        for (int s = 0; s < n; s++)
            for (int c = 0; c < cols; c++) { xt[(long)c * n + s] = x[(long)s * cols + c]; xd[(long)s * cols + c] = x[(long)s * cols + c]; }
        var h = new double[(long)cols * cols];
        fixed (double* pt = xt, px = xd, ph = h)
        {
            double* a = pt, b = px, c = ph;
            Parallel.For(0, (cols + 31) / 32, slice =>
            {
                int r0 = slice * 32, r1 = Math.Min(cols, r0 + 32);
                Fp64Gemm.SubtractProduct(a + (long)r0 * n, n, b, cols, c + (long)r0 * cols, cols, r1 - r0, cols, n);
            });
        }
        for (long i = 0; i < h.Length; i++) h[i] *= -2.0 / n;
        return h;
    }
}
