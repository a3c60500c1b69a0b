// The Hessian / mean-square accumulator against a plain fp64 reference.
using QuantSharp.Quantization.Calibration;

namespace QuantSharp.Tests.Streaming;

public sealed class LinearInputStatisticsTests
{
    [Theory]
    [InlineData(48, new[] { 1, 700, 300 })]   // crosses the 512-row GEMM batch
    [InlineData(96, new[] { 513, 64 })]
    [InlineData(300, new[] { 600, 7 })]       // three block rows of the lower triangle, the last one ragged
    public void HessianAndMeanSquaresMatchAnFp64Reference(int cols, int[] batches)
    {
        var rng = new Random(5);
        var stats = new LinearInputStatistics(cols, withHessian: true);
        var refH = new double[cols * cols];
        var refSq = new double[cols];
        long n = 0;
        foreach (int rows in batches)
        {
            var x = new float[rows * cols];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2) * (1 + i % cols);
            stats.Add(x, rows);
            for (int r = 0; r < rows; r++)
                for (int a = 0; a < cols; a++)
                {
                    double xa = x[r * cols + a];
                    refSq[a] += xa * xa;
                    for (int b = 0; b < cols; b++) refH[a * cols + b] += xa * x[r * cols + b];
                }
            n += rows;
        }
        var h = stats.Hessian();
        var ms = stats.MeanSquares();
        double max = refH.Max(Math.Abs) * 2.0 / n;
        for (int i = 0; i < h.Length; i++)
            Assert.True(Math.Abs(h[i] - 2.0 / n * refH[i]) <= 1e-5 * max, $"H[{i}] = {h[i]}, reference {2.0 / n * refH[i]}");
        for (int c = 0; c < cols; c++) Assert.Equal(refSq[c] / n, ms[c], 1e-9 * refSq.Max() / n);
        Assert.Equal(n, stats.Count);
        // Exactly symmetric, as Σ x xᵀ is.
        for (int a = 0; a < cols; a++)
            for (int b = 0; b < a; b++) Assert.Equal(h[a * cols + b], h[b * cols + a]);
    }

    [Fact]
    public void WithoutHessianOnlyMeanSquaresAreKept()
    {
        var s = new LinearInputStatistics(4, withHessian: false);
        s.Add([1, 2, 3, 4, -1, -2, -3, -4], 2);
        Assert.Equal([1.0, 4, 9, 16], s.MeanSquares());
        Assert.Throws<InvalidOperationException>(() => s.Hessian());
        Assert.Throws<InvalidOperationException>(() => new LinearInputStatistics(4, true).Hessian());
    }
}
