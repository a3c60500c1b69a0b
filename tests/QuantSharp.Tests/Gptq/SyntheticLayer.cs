// Synthetic linear layers for the GPTQ tests: correlated inputs, a few never-active columns, H = 2/n XᵀX.
namespace QuantSharp.Tests.Gptq;

/// <summary>A random W and the Hessian of random correlated inputs (seeded, so every run sees the same layer).</summary>
internal sealed class SyntheticLayer
{
    public SyntheticLayer(int rows, int cols, int samples, int seed, int[]? deadColumns = null)
    {
        Rows = rows; Cols = cols;
        var rng = new Random(seed);
        Weight = new float[rows * cols];
        for (int i = 0; i < Weight.Length; i++) Weight[i] = (float)(Gaussian(rng) * 0.05 * (1 + (i % 7 == 0 ? 3 : 0)));
        // Inputs x = A·z: a random mixing matrix gives strongly correlated columns with unequal scales.
        int latent = Math.Max(4, cols / 2);
        var mix = new double[cols * latent];
        for (int i = 0; i < mix.Length; i++) mix[i] = Gaussian(rng) * (1 + (i / latent) % 5);
        var x = new double[samples * cols];
        var z = new double[latent];
        for (int s = 0; s < samples; s++)
        {
            for (int k = 0; k < latent; k++) z[k] = Gaussian(rng);
            for (int c = 0; c < cols; c++)
            {
                double v = Gaussian(rng) * 0.3;
                for (int k = 0; k < latent; k++) v += mix[c * latent + k] * z[k];
                x[s * cols + c] = v;
            }
        }
        foreach (int d in deadColumns ?? []) for (int s = 0; s < samples; s++) x[s * cols + d] = 0;
        Hessian = HessianOf(x, samples, cols);
    }

    public int Rows { get; }
    public int Cols { get; }
    public float[] Weight { get; }
    public double[] Hessian { get; }

    /// <summary>2/n XᵀX.</summary>
    public static double[] HessianOf(double[] x, int samples, int cols)
    {
        var h = new double[cols * cols];
        for (int s = 0; s < samples; s++)
            for (int i = 0; i < cols; i++)
            {
                double xi = x[s * cols + i];
                if (xi == 0) continue;
                for (int j = 0; j < cols; j++) h[i * cols + j] += xi * x[s * cols + j];
            }
        for (int i = 0; i < h.Length; i++) h[i] *= 2.0 / samples;
        return h;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
