// A deliberately plain GPTQ for the tests: fp64, no lazy batching, explicit inverse and Cholesky, the paper's equations.
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Tests.Gptq;

/// <summary>
/// GPTQ written as directly as possible from the reference's equations, for comparison with the
/// optimised quantizer: H⁻¹ by Gauss-Jordan, its upper Cholesky factor by the textbook recurrence,
/// then one column at a time, W[:, j] −= (w_i − q_i)/U_ii · U_ij for every later column j (no blocks).
/// Also the round-to-nearest baseline and the layer-wise objective tr((W−Q)H(W−Q)ᵀ).
/// </summary>
internal static class PlainGptq
{
    public static double[] Quantize(float[] weight, int rows, int cols, double[] hessian, GptqOptions o, out int[] levels)
    {
        int maxq = (1 << o.Bits) - 1, gs = o.GroupSize;
        var h = (double[])hessian.Clone();
        var dead = new bool[cols];
        for (int j = 0; j < cols; j++) if (h[j * cols + j] == 0) { dead[j] = true; h[j * cols + j] = 1; }
        var w = new double[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = weight[i];

        int groups = gs > 0 ? (cols + gs - 1) / gs : 1;
        var scale = new double[groups, rows];
        var zero = new int[groups, rows];
        if (gs == 0)
            for (int r = 0; r < rows; r++) Params(Slice(w, r, cols, 0, cols), maxq, o, out scale[0, r], out zero[0, r]);
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) if (dead[j]) w[r * cols + j] = 0;
        if (gs > 0 && o.StaticGroups)
            for (int g = 0; g < groups; g++)
                for (int r = 0; r < rows; r++) Params(Slice(w, r, cols, g * gs, Math.Min(gs, cols - g * gs)), maxq, o, out scale[g, r], out zero[g, r]);

        var perm = Enumerable.Range(0, cols).ToArray();
        if (o.ActOrder) perm = perm.OrderByDescending(j => h[j * cols + j]).ThenBy(j => j).ToArray();
        var wp = new double[rows * cols];
        var hp = new double[cols * cols];
        for (int r = 0; r < rows; r++) for (int i = 0; i < cols; i++) wp[r * cols + i] = w[r * cols + perm[i]];
        for (int i = 0; i < cols; i++) for (int j = 0; j < cols; j++) hp[i * cols + j] = h[perm[i] * cols + perm[j]];
        double mean = 0;
        for (int j = 0; j < cols; j++) mean += hp[j * cols + j];
        mean /= cols;
        for (int j = 0; j < cols; j++) hp[j * cols + j] += o.Damping * mean;
        var u = UpperCholesky(Inverse(hp, cols), cols);

        var q = new double[rows * cols];
        var lv = new int[rows * cols];
        for (int i = 0; i < cols; i++)
        {
            int g = gs == 0 ? 0 : o.StaticGroups ? perm[i] / gs : i / gs;
            if (gs > 0 && !o.StaticGroups && i % gs == 0)
                for (int r = 0; r < rows; r++) Params(Slice(wp, r, cols, i, Math.Min(gs, cols - i)), maxq, o, out scale[g, r], out zero[g, r]);
            for (int r = 0; r < rows; r++)
            {
                double x = wp[r * cols + i];
                int l = Level(x, scale[g, r], zero[g, r], maxq);
                double qv = scale[g, r] * (l - zero[g, r]);
                q[r * cols + perm[i]] = qv;
                lv[r * cols + perm[i]] = l;
                double err = (x - qv) / u[i * cols + i];
                for (int j = i + 1; j < cols; j++) wp[r * cols + j] -= err * u[i * cols + j];
            }
        }
        levels = lv;
        return q;
    }

    /// <summary>Round to nearest on the same grid (groups in column order, parameters from W), dead columns zeroed.</summary>
    public static double[] RoundToNearest(float[] weight, int rows, int cols, GptqOptions o)
    {
        int maxq = (1 << o.Bits) - 1, gs = o.GroupSize > 0 ? o.GroupSize : cols;
        var q = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += gs)
            {
                int len = Math.Min(gs, cols - c0);
                var x = new double[len];
                for (int k = 0; k < len; k++) x[k] = weight[r * cols + c0 + k];
                Params(x, maxq, o, out double s, out int z);
                for (int k = 0; k < len; k++) q[r * cols + c0 + k] = s * (Level(x[k], s, z, maxq) - z);
            }
        return q;
    }

    /// <summary>tr((W−Q)H(W−Q)ᵀ) in fp64.</summary>
    public static double Objective(float[] weight, IReadOnlyList<double> q, int rows, int cols, double[] hessian)
    {
        double total = 0;
        var d = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) d[c] = weight[r * cols + c] - q[r * cols + c];
            for (int i = 0; i < cols; i++)
            {
                if (d[i] == 0) continue;
                double s = 0;
                for (int j = 0; j < cols; j++) s += hessian[i * cols + j] * d[j];
                total += d[i] * s;
            }
        }
        return total;
    }

    /// <summary>Quantizer.find_params: fp32 scale, half-to-even zero, optional shrink search under |·|^2.4.</summary>
    public static void Params(double[] x, int maxq, GptqOptions o, out double scale, out int zero)
    {
        double xmin = Math.Min(0, x.Min()), xmax = Math.Max(0, x.Max());
        if (o.Symmetric) { xmax = Math.Max(Math.Abs(xmin), xmax); if (xmin < 0) xmin = -xmax; }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
        scale = (float)((xmax - xmin) / maxq);
        zero = o.Symmetric ? (maxq + 1) / 2 : (int)Math.Round(-xmin / scale, MidpointRounding.ToEven);
        if (!o.MseClip) return;
        double best = double.PositiveInfinity;
        for (int i = 0; i < 80; i++)
        {
            double p = 1 - i / 100.0;
            double s = (float)((p * xmax - p * xmin) / maxq);
            int z = o.Symmetric ? (maxq + 1) / 2 : (int)Math.Round(-(p * xmin) / s, MidpointRounding.ToEven);
            double err = 0;
            foreach (double v in x) err += Math.Pow(Math.Abs(s * (Level(v, s, z, maxq) - z) - v), 2.4);
            if (err < best) { best = err; scale = s; zero = z; }
        }
    }

    public static int Level(double x, double scale, int zero, int maxq) =>
        (int)Math.Clamp(Math.Round(x / scale, MidpointRounding.ToEven) + zero, 0, maxq);

    private static double[] Slice(double[] w, int r, int cols, int start, int len) => w.AsSpan(r * cols + start, len).ToArray();

    /// <summary>Gauss-Jordan inverse with partial pivoting.</summary>
    public static double[] Inverse(double[] a, int n)
    {
        var m = (double[])a.Clone();
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r * n + c]) > Math.Abs(m[p * n + c])) p = r;
            if (p != c)
                for (int k = 0; k < n; k++)
                {
                    (m[c * n + k], m[p * n + k]) = (m[p * n + k], m[c * n + k]);
                    (inv[c * n + k], inv[p * n + k]) = (inv[p * n + k], inv[c * n + k]);
                }
            double piv = m[c * n + c];
            for (int k = 0; k < n; k++) { m[c * n + k] /= piv; inv[c * n + k] /= piv; }
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = m[r * n + c];
                if (f == 0) continue;
                for (int k = 0; k < n; k++) { m[r * n + k] -= f * m[c * n + k]; inv[r * n + k] -= f * inv[c * n + k]; }
            }
        }
        return inv;
    }

    /// <summary>U upper with UᵀU = A (textbook recurrence).</summary>
    public static double[] UpperCholesky(double[] a, int n)
    {
        var u = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            double s = a[i * n + i];
            for (int k = 0; k < i; k++) s -= u[k * n + i] * u[k * n + i];
            u[i * n + i] = Math.Sqrt(s);
            for (int j = i + 1; j < n; j++)
            {
                double t = a[i * n + j];
                for (int k = 0; k < i; k++) t -= u[k * n + i] * u[k * n + j];
                u[i * n + j] = t / u[i * n + i];
            }
        }
        return u;
    }
}
