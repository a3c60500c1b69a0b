// GPTQ's "mse" range search: shrink [xmin, xmax] step by step, keep the shrink with the least Σ|err|^norm.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// The optional MSE-optimal clipping of the reference GPTQ Quantizer (configure(mse=True, norm=2.4,
/// grid=100, maxshrink=0.8)): for i = 0 … ⌊maxshrink·grid⌋ − 1, p = 1 − i/grid, the parameters of
/// the range [p·xmin, p·xmax] are tried (symmetric grids keep z = 2^(b−1)) and the one with the
/// smallest Σ|x − x̂|^norm over the group wins, ties keeping the earlier (wider) range. i = 0 is the
/// min/max choice, so the result is never worse than min/max in that norm.
/// </summary>
public sealed class MseClippingSearch
{
    /// <summary>GPTQ's defaults: norm 2.4, grid 100, maxshrink 0.8.</summary>
    public static MseClippingSearch Default { get; } = new();

    /// <summary>Creates a search.</summary>
    public MseClippingSearch(double norm = 2.4, int grid = 100, double maxShrink = 0.8)
    {
        if (!(norm > 0) || double.IsInfinity(norm)) throw new ArgumentOutOfRangeException(nameof(norm), norm, "the error norm must be positive");
        if (grid < 1) throw new ArgumentOutOfRangeException(nameof(grid), grid, "the grid needs at least one step");
        if (!(maxShrink > 0 && maxShrink <= 1)) throw new ArgumentOutOfRangeException(nameof(maxShrink), maxShrink, "maxshrink must be in (0, 1]");
        Norm = norm;
        Grid = grid;
        MaxShrink = maxShrink;
    }

    /// <summary>Exponent of the error norm.</summary>
    public double Norm { get; }

    /// <summary>Steps per unit of shrink.</summary>
    public int Grid { get; }

    /// <summary>Largest fraction of the range removed.</summary>
    public double MaxShrink { get; }

    /// <summary>Scale and zero point for one group of a <paramref name="bits"/>-bit grid.</summary>
    public (float Scale, byte Zero) FindParameters(ReadOnlySpan<float> values, int bits, bool symmetric)
    {
        int maxq = (1 << bits) - 1;
        float xmin = 0, xmax = 0;
        foreach (float v in values)
        {
            xmin = MathF.Min(xmin, v);
            xmax = MathF.Max(xmax, v);
        }
        var best = IntegerGrid.ParametersForRange(xmin, xmax, maxq, symmetric);
        // find_params applies the symmetric adjustments before the search, so shrink those bounds.
        if (symmetric)
        {
            xmax = MathF.Max(MathF.Abs(xmin), xmax);
            if (xmin < 0) xmin = -xmax;
        }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
        float norm = (float)Norm;
        // The plain min/max parameters are the first candidate and win ties. find_params starts from +inf, and its
        // i = 0 candidate is the same min/max except where fp32 loses the range: on subnormal values (the scale
        // (hi − lo)/maxq rounds, and every candidate's fp32 error underflows to 0) the search then kept a rounded
        // i = 0 that is worse than min/max — found by GridErrorBoundTests.
        double bestError = Error(values, best.Scale, best.Zero, maxq, norm);
        int steps = (int)(MaxShrink * Grid);
        for (int i = 0; i < steps; i++)
        {
            float p = (float)(1 - (double)i / Grid);
            float lo = p * xmin, hi = p * xmax;
            float scale = (hi - lo) / maxq;
            byte zero = symmetric ? best.Zero : (byte)Math.Clamp(MathF.Round(-lo / scale, MidpointRounding.ToEven), 0f, maxq);
            double error = Error(values, scale, zero, maxq, norm);
            if (error < bestError)
            {
                bestError = error;
                best = (scale, zero);
            }
        }
        return best;
    }

    /// <summary>Σ |dequantized − v|^norm of the group under (scale, zero).</summary>
    private static double Error(ReadOnlySpan<float> values, float scale, byte zero, int maxq, float norm)
    {
        double error = 0;
        foreach (float v in values)
        {
            float e = MathF.Abs(IntegerGrid.Value(IntegerGrid.Code(v, scale, zero, maxq), scale, zero) - v);
            // fp32 power (as torch's pow_ on fp32 tensors), summed in double; exact zeros skip the call.
            if (e != 0) error += MathF.Pow(e, norm);
        }
        return error;
    }
}
