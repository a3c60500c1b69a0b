// The report's error measures against their definitions on synthetic data.
using QuantSharp.Quantization.Reporting;

namespace QuantSharp.Tests.Report;

public sealed class QuantizationErrorsTests
{
    // ‖XΔᵀ‖_F / ‖XWᵀ‖_F computed from the Gram matrix equals the ratio computed from the inputs themselves, for correlated
    // inputs (where it differs from the weight error) and odd sizes (tile edges).
    [Theory]
    [InlineData(37, 53, 200)]
    [InlineData(70, 24, 9)]
    public void OutputErrorFromTheGramMatrixEqualsTheDirectRatio(int rows, int cols, int tokens)
    {
        var rng = new Random(rows * 1000 + cols);
        var w = new float[rows * cols];
        var q = new float[rows * cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() * 2 - 1);
            q[i] = MathF.Round(w[i] * 4) / 4; // a coarse grid
        }
        // Inputs with a few dominant directions (as activations have).
        var x = new double[tokens * cols];
        var basis = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, cols).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        for (int t = 0; t < tokens; t++)
            for (int c = 0; c < cols; c++)
                x[t * cols + c] = 5 * basis[t % 3][c] + 0.1 * (rng.NextDouble() - 0.5);
        var gram = new double[cols * cols];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < cols; i++)
                for (int j = 0; j < cols; j++) gram[i * cols + j] += 2.0 / tokens * x[t * cols + i] * x[t * cols + j];

        double num = 0, den = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double y = 0, e = 0;
                for (int c = 0; c < cols; c++)
                {
                    y += x[t * cols + c] * w[r * cols + c];
                    e += x[t * cols + c] * (w[r * cols + c] - q[r * cols + c]);
                }
                num += e * e;
                den += y * y;
            }
        double direct = Math.Sqrt(num / den);
        double viaGram = QuantizationErrors.RelativeOutputError(w, q, rows, cols, gram);
        Assert.Equal(direct, viaGram, direct * 1e-9);

        double wn = 0, dn = 0;
        for (int i = 0; i < w.Length; i++) { wn += (double)w[i] * w[i]; dn += (double)(w[i] - q[i]) * (w[i] - q[i]); }
        Assert.Equal(Math.Sqrt(dn / wn), QuantizationErrors.RelativeWeightError(w, q), 1e-12);
        // Not the same measure: on these inputs the two differ.
        Assert.NotEqual(QuantizationErrors.RelativeWeightError(w, q), viaGram, 1e-3);
        Assert.Equal(0, QuantizationErrors.RelativeOutputError(w, w, rows, cols, gram));
    }

    [Fact]
    public void RoundedKeepsSixSignificantDigits()
    {
        Assert.Equal(0.0123457, QuantizationErrors.Rounded(0.012345678));
        Assert.Equal(123457, QuantizationErrors.Rounded(123456.78));
        Assert.Equal(0, QuantizationErrors.Rounded(0));
    }
}
