// Input checks and Hessian conditioning shared by both GPTQ modes: dead columns, permutation, dampening, factorisation.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// Turns a layer's H = 2/n Σ xxᵀ into the upper Cholesky factor of its (dampened) inverse, as the
/// reference does: columns never activated (H_jj = 0) get H_jj = 1 (their weights are zeroed by the
/// caller), λ = damping · mean(diag H) is added to the diagonal, and when the factorisation still
/// fails λ grows tenfold (with a warning) a few times before giving up with an error.
/// </summary>
internal static class HessianPreparation
{
    /// <summary>Tenfold dampening increases tried after the requested one fails.</summary>
    internal const int ExtraDampingAttempts = 4;

    /// <summary>Throws unless W is rows×cols of finite values and H is cols×cols of finite values with a non-negative diagonal.</summary>
    public static void Validate(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<double> hessian)
    {
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "GPTQ: the weight needs at least one row");
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, "GPTQ: the weight needs at least one column");
        if (weight.Length != (long)rows * cols)
            throw new ArgumentException($"GPTQ: weight has {weight.Length} values, expected rows·cols = {rows}·{cols} = {(long)rows * cols}", nameof(weight));
        if (hessian.Length != (long)cols * cols)
            throw new ArgumentException($"GPTQ: Hessian has {hessian.Length} values, expected cols² = {cols}² = {(long)cols * cols}", nameof(hessian));
        for (int i = 0; i < weight.Length; i++)
            if (!float.IsFinite(weight[i]))
                throw new ArgumentException($"GPTQ: weight[{i / cols}, {i % cols}] is {weight[i]}; weights must be finite", nameof(weight));
        for (int i = 0; i < hessian.Length; i++)
            if (!double.IsFinite(hessian[i]))
                throw new ArgumentException($"GPTQ: Hessian[{i / cols}, {i % cols}] is {hessian[i]}; the Hessian must be finite", nameof(hessian));
        for (int j = 0; j < cols; j++)
            if (hessian[j * cols + j] < 0)
                throw new ArgumentException($"GPTQ: Hessian diagonal [{j}, {j}] is {hessian[j * cols + j]}; a Hessian 2/n Σxxᵀ has a non-negative diagonal", nameof(hessian));
    }

    /// <summary>Columns whose Hessian diagonal is exactly 0 (never activated by the calibration data).</summary>
    public static bool[] DeadColumns(ReadOnlySpan<double> hessian, int cols)
    {
        var dead = new bool[cols];
        for (int j = 0; j < cols; j++) dead[j] = hessian[j * cols + j] == 0;
        return dead;
    }

    /// <summary>
    /// H in sweep order (hs[i, j] = H[perm[i], perm[j]]), symmetrised ((H + Hᵀ)/2, so an accumulator's
    /// rounding asymmetry does not matter), with dead diagonals set to 1.
    /// </summary>
    public static double[] Permuted(ReadOnlySpan<double> hessian, int cols, int[] perm, bool[] dead)
    {
        var hs = new double[(long)cols * cols];
        for (int i = 0; i < cols; i++)
        {
            int pi = perm[i];
            for (int j = 0; j < cols; j++)
            {
                int pj = perm[j];
                hs[(long)i * cols + j] = 0.5 * (hessian[pi * cols + pj] + hessian[pj * cols + pi]);
            }
            if (dead[pi]) hs[(long)i * cols + i] = 1;
        }
        return hs;
    }

    /// <summary>
    /// <see cref="Permuted"/> in the storage of <paramref name="hessian"/> (same values bit for bit:
    /// symmetrised in place, then rows and columns permuted with one row of scratch).
    /// </summary>
    public static void PermuteInPlace(double[] hessian, int cols, int[] perm, bool[] dead)
    {
        var h = hessian.AsSpan(0, cols * cols);
        for (int i = 0; i < cols; i++)
            for (int j = i; j < cols; j++)
            {
                double v = 0.5 * (h[i * cols + j] + h[j * cols + i]);
                h[i * cols + j] = v;
                h[j * cols + i] = v;
            }
        bool identity = true;
        for (int i = 0; i < cols; i++) identity &= perm[i] == i;
        if (!identity)
        {
            var row = new double[cols];
            // Rows: follow each cycle of the permutation (new row i = old row perm[i]).
            var placed = new bool[cols];
            for (int start = 0; start < cols; start++)
            {
                if (placed[start]) continue;
                h.Slice(start * cols, cols).CopyTo(row);
                int i = start;
                while (true)
                {
                    placed[i] = true;
                    int from = perm[i];
                    if (from == start) { row.CopyTo(h.Slice(i * cols, cols)); break; }
                    h.Slice(from * cols, cols).CopyTo(h.Slice(i * cols, cols));
                    i = from;
                }
            }
            // Columns, row by row.
            for (int i = 0; i < cols; i++)
            {
                var r = h.Slice(i * cols, cols);
                r.CopyTo(row);
                for (int j = 0; j < cols; j++) r[j] = row[perm[j]];
            }
        }
        for (int i = 0; i < cols; i++)
            if (dead[perm[i]]) h[i * cols + i] = 1;
    }

    /// <summary>
    /// Upper U with UᵀU = (H + λI)⁻¹, λ = damping·mean(diag H), raised tenfold on failure; computed in
    /// the storage of <paramref name="hs"/>, which is returned holding U.
    /// </summary>
    public static double[] InverseFactor(double[] hs, int cols, double damping, Action<string>? warn)
    {
        double mean = 0;
        for (int j = 0; j < cols; j++) mean += hs[(long)j * cols + j];
        mean /= cols;
        double fraction = damping;
        for (int attempt = 0; ; attempt++)
        {
            if (CholeskyFactorization.TryUpperCholeskyOfInverseInPlace(hs, cols, fraction * mean)) return hs;
            if (attempt == ExtraDampingAttempts)
                throw new ArgumentException(
                    $"GPTQ: the {cols}×{cols} Hessian is not positive definite even with dampening {fraction:G3}·mean(diag H) = {fraction * mean:G3} " +
                    $"(started at {damping:G3}); the calibration statistics are degenerate or corrupt", "hessian");
            double next = fraction * 10;
            warn?.Invoke($"GPTQ: Hessian ({cols}×{cols}) is not positive definite with dampening {fraction:G3}·mean(diag H); retrying with {next:G3}");
            fraction = next;
        }
    }

    /// <summary>Columns by decreasing Hessian diagonal, ties by index (a stable act-order permutation).</summary>
    public static int[] ActOrder(ReadOnlySpan<double> hessian, int cols, bool[] dead)
    {
        var perm = new int[cols];
        var key = new double[cols];
        for (int j = 0; j < cols; j++)
        {
            perm[j] = j;
            // The reference sorts after setting dead diagonals to 1.
            key[j] = dead[j] ? 1 : hessian[j * cols + j];
        }
        Array.Sort(perm, (a, b) => key[a] != key[b] ? key[b].CompareTo(key[a]) : a.CompareTo(b));
        return perm;
    }

    /// <summary>The identity permutation.</summary>
    public static int[] Identity(int cols)
    {
        var perm = new int[cols];
        for (int j = 0; j < cols; j++) perm[j] = j;
        return perm;
    }
}
