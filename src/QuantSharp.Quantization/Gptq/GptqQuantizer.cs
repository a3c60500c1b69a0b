// GPTQ onto integer grids: one linear layer from its weight and input Hessian to levels, scales and zeros.
using System.Diagnostics;

namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// GPTQ (Frantar et al. 2022) as the reference implementation (IST-DASLab/gptq fasterquant) with
/// AutoGPTQ's additions (static groups, g_idx): dead columns, dampening, act-order, groups whose
/// scale/zero are chosen from the error-updated weights when the sweep reaches them, lazy block
/// updates. Hessian, factorisation and the sweep are all fp64. Differences from the reference, all
/// deliberate: act-order breaks ties of diag(H) by column index (torch.argsort is not stable); a
/// group starting inside a lazy block sees the block's earlier updates (the reference reads stale
/// values there when group size &lt; block size, so its result depended on the block size); a
/// Hessian that is not positive definite is retried with tenfold dampening instead of failing.
/// </summary>
public static class GptqQuantizer
{
    /// <summary>
    /// Quantizes W [<paramref name="rows"/> = out features × <paramref name="cols"/> = in features,
    /// row-major] given H = 2/n Σ x xᵀ over the calibration inputs x [cols × cols, row-major].
    /// </summary>
    /// <param name="weight">W, row-major; left unchanged.</param>
    /// <param name="rows">Output features.</param>
    /// <param name="cols">Input features.</param>
    /// <param name="hessian">H, row-major cols × cols; left unchanged.</param>
    /// <param name="options">Bits, groups, ordering, dampening.</param>
    /// <param name="warn">Receives a line when dampening had to be raised.</param>
    /// <exception cref="ArgumentException">Shapes do not match, a value is not finite, or H stays indefinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static GptqLayerResult Quantize(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<double> hessian, GptqOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        HessianPreparation.Validate(weight, rows, cols, hessian);
        return QuantizeInPlace(weight, rows, cols, hessian.ToArray(), options, warn);
    }

    /// <summary>
    /// <see cref="Quantize"/> with <paramref name="hessian"/> as its workspace: it is permuted and
    /// factorised in place (LAPACK-style), so the layer needs one cols×cols array instead of several.
    /// Same result bit for bit. <paramref name="hessian"/> is overwritten (its content afterwards is unspecified).
    /// </summary>
    /// <param name="weight">W, row-major; left unchanged.</param>
    /// <param name="rows">Output features.</param>
    /// <param name="cols">Input features.</param>
    /// <param name="hessian">H, row-major cols × cols; overwritten (used as workspace).</param>
    /// <param name="options">Bits, groups, ordering, dampening.</param>
    /// <param name="warn">Receives a line when dampening had to be raised.</param>
    /// <exception cref="ArgumentException">Shapes do not match, a value is not finite, or H stays indefinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static GptqLayerResult QuantizeInPlace(ReadOnlySpan<float> weight, int rows, int cols, double[] hessian, GptqOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        HessianPreparation.Validate(weight, rows, cols, hessian);

        int bits = options.Bits;
        int gs = options.GroupSize;
        bool grouped = gs > 0;
        int groups = grouped ? (cols + gs - 1) / gs : 1;
        var dead = HessianPreparation.DeadColumns(hessian, cols);
        var perm = options.ActOrder ? HessianPreparation.ActOrder(hessian, cols, dead) : HessianPreparation.Identity(cols);
        var invperm = new int[cols];
        for (int i = 0; i < cols; i++) invperm[perm[i]] = i;

        // Sweep-order copy of W with dead columns zeroed.
        var w = new double[(long)rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var src = weight.Slice(r * cols, cols);
            long o = (long)r * cols;
            for (int i = 0; i < cols; i++) w[o + i] = dead[perm[i]] ? 0 : src[perm[i]];
        }

        var groupAt = new int[cols];
        var groupIndex = new int[cols];
        if (grouped && !options.StaticGroups)
        {
            for (int i = 0; i < cols; i++) groupAt[i] = i / gs;
            for (int c = 0; c < cols; c++) groupIndex[c] = invperm[c] / gs;
        }
        else if (grouped)
        {
            for (int i = 0; i < cols; i++) groupAt[i] = perm[i] / gs;
            for (int c = 0; c < cols; c++) groupIndex[c] = c / gs;
        }
        var grid = new IntegerGrid(rows, cols, bits, options.Symmetric, options.MseClip, groups, groupAt,
            grouped && !options.StaticGroups ? gs : 0, options.Fp16Scales);

        if (!grouped)
        {
            // Per channel: the reference finds the parameters on W before zeroing dead columns.
            var row = new double[cols];
            for (int r = 0; r < rows; r++)
            {
                var src = weight.Slice(r * cols, cols);
                for (int c = 0; c < cols; c++) row[c] = src[c];
                grid.SetParameters(0, r, row);
            }
        }
        else if (options.StaticGroups)
        {
            // Static groups: every group's parameters from the (dead-zeroed) weights in original order, before the sweep.
            var part = new double[gs];
            for (int r = 0; r < rows; r++)
            {
                var src = weight.Slice(r * cols, cols);
                for (int g = 0; g < groups; g++)
                {
                    int c0 = g * gs, len = Math.Min(gs, cols - c0);
                    for (int k = 0; k < len; k++) part[k] = dead[c0 + k] ? 0 : src[c0 + k];
                    grid.SetParameters(g, r, part.AsSpan(0, len));
                }
            }
        }

        long t0 = Stopwatch.GetTimestamp();
        HessianPreparation.PermuteInPlace(hessian, cols, perm, dead);
        var upper = HessianPreparation.InverseFactor(hessian, cols, options.Damping, warn);
        long t1 = Stopwatch.GetTimestamp();
        var rounded = new double[(long)rows * cols];
        GptqSweep.Run(w, rows, cols, upper, options.BlockSize, grid, rounded);
        long t2 = Stopwatch.GetTimestamp();

        var levels = new int[(long)rows * cols];
        var dequantized = new float[(long)rows * cols];
        for (int r = 0; r < rows; r++)
        {
            long o = (long)r * cols;
            for (int i = 0; i < cols; i++)
            {
                levels[o + perm[i]] = grid.Levels[o + i];
                dequantized[o + perm[i]] = (float)rounded[o + i];
            }
        }
        return new GptqLayerResult
        {
            Rows = rows,
            Cols = cols,
            Bits = bits,
            GroupSize = gs,
            QuantizedValues = levels,
            Scales = grid.Scales,
            Zeros = grid.Zeros,
            GroupIndex = groupIndex,
            Dequantized = dequantized,
            FactorTime = Stopwatch.GetElapsedTime(t0, t1),
            SweepTime = Stopwatch.GetElapsedTime(t1, t2),
        };
    }
}
