// GPTQ's column sweep with lazy block updates, parallel over independent row tiles.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// The core of GPTQ (Frantar et al., fasterquant): columns are rounded one at a time and each
/// rounding error, divided by U[i,i], is spread over the row's later columns along U[i, ·] (U the
/// upper Cholesky factor of H⁻¹). Within a block of columns the update is applied at once (rank-1
/// per column); the block's errors reach the columns after it in one product when the block ends.
/// Rows never interact, so tiles of <see cref="TileRows"/> rows run in parallel and the result does
/// not depend on the thread count. Block ends are pulled back so that a group starting inside a
/// block never reaches past it: every group's parameters are then chosen from fully updated values,
/// which makes the result independent of the block size (up to rounding of the sums).
/// </summary>
internal static unsafe class GptqSweep
{
    /// <summary>Rows per parallel work item.</summary>
    private const int TileRows = 64;

    /// <summary>
    /// Sweeps <paramref name="weights"/> (rows × cols, sweep order; overwritten with the partially
    /// updated values) and writes the rounded values to <paramref name="rounded"/> (rows × cols).
    /// </summary>
    public static void Run(double[] weights, int rows, int cols, double[] upper, int blockSize, IColumnGrid grid, double[] rounded)
    {
        int tiles = (rows + TileRows - 1) / TileRows;
        QuantSharp.Core.Kernels.ScopedParallel.For(0, tiles, () => new double[TileRows * Math.Max(1, blockSize)], (tile, err) =>
        {
            int r0 = tile * TileRows, r1 = Math.Min(rows, r0 + TileRows);
            SweepTile(weights, r0, r1, cols, upper, blockSize, grid, rounded, err);
        });
    }

    /// <summary>End (exclusive) of the lazy block starting at <paramref name="start"/>.</summary>
    internal static int BlockEnd(int start, int cols, int blockSize, int groupSize)
    {
        int end = Math.Min(start + blockSize, cols);
        if (groupSize <= 0) return end;
        for (int g = (start / groupSize + 1) * groupSize; g < end; g += groupSize)
            if (Math.Min(g + groupSize, cols) > end) return g;
        return end;
    }

    private static void SweepTile(double[] weights, int r0, int r1, int cols, double[] upper, int blockSize, IColumnGrid grid, double[] rounded, double[] err)
    {
        int gs = grid.GroupSize;
        int tileRows = r1 - r0;
        fixed (double* w = weights)
        fixed (double* u = upper)
        fixed (double* q = rounded)
        fixed (double* e = err)
        {
            for (int i1 = 0; i1 < cols; )
            {
                int i2 = BlockEnd(i1, cols, blockSize, gs);
                int count = i2 - i1;
                for (int i = i1; i < i2; i++)
                {
                    if (gs > 0 && i % gs == 0)
                    {
                        int len = Math.Min(gs, cols - i);
                        for (int r = r0; r < r1; r++) grid.BeginGroup(r, i, new ReadOnlySpan<double>(w + (long)r * cols + i, len));
                    }
                    double* ui = u + (long)i * cols;
                    double d = ui[i];
                    for (int r = r0; r < r1; r++)
                    {
                        double* wr = w + (long)r * cols;
                        double x = wr[i];
                        double qv = grid.Round(r, i, x);
                        q[(long)r * cols + i] = qv;
                        double ei = (x - qv) / d;
                        e[(r - r0) * blockSize + (i - i1)] = ei;
                        Fp64Gemm.SubtractScaled(ei, ui + i + 1, wr + i + 1, i2 - i - 1);
                    }
                }
                if (i2 < cols)
                    Fp64Gemm.SubtractProduct(e, blockSize, u + (long)i1 * cols + i2, cols, w + (long)r0 * cols + i2, cols, tileRows, cols - i2, count);
                i1 = i2;
            }
        }
    }
}
