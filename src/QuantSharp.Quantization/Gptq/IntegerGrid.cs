// The uniform integer grid of GPTQ (the reference Quantizer): per-row, per-group scale and zero point.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// GPTQ's Quantizer (IST-DASLab/gptq quant.py, as AutoGPTQ uses it with perchannel=True): min/max
/// range including 0, symmetric or asymmetric, optional shrink search for the range minimising
/// Σ|q(x) − x|^2.4. Scales are rounded to fp32 (or, for checkpoints that store them so, fp16) when
/// chosen, before the zero point and levels, so the values the sweep feeds back are exactly
/// scale·(q − zero) as stored. Rounding is half to even (torch.round).
/// </summary>
internal sealed class IntegerGrid : IColumnGrid
{
    /// <summary>The reference's MSE search: error norm, grid steps, smallest range fraction (1 − maxshrink·…).</summary>
    internal const double MseNorm = 2.4;
    internal const int MseGrid = 100;
    internal const double MseMaxShrink = 0.8;

    private const float SmallestNormal = 1.17549435e-38f;

    private readonly int _rows, _cols, _maxq;
    private readonly bool _symmetric, _mse, _fp16;
    private readonly int[] _groupAt;

    /// <summary>Creates a grid; <paramref name="groupAt"/> maps each sweep position to its group.</summary>
    public IntegerGrid(int rows, int cols, int bits, bool symmetric, bool mse, int groups, int[] groupAt, int dynamicGroupSize, bool fp16Scales = false)
    {
        _rows = rows; _cols = cols; _maxq = (1 << bits) - 1;
        _symmetric = symmetric; _mse = mse; _fp16 = fp16Scales;
        _groupAt = groupAt;
        GroupSize = dynamicGroupSize;
        Scales = new float[groups * rows];
        Zeros = new int[groups * rows];
        Levels = new int[(long)rows * cols];
    }

    /// <inheritdoc/>
    public int GroupSize { get; }

    /// <summary>[groups·rows] group-major scales.</summary>
    public float[] Scales { get; }

    /// <summary>[groups·rows] group-major zero points.</summary>
    public int[] Zeros { get; }

    /// <summary>[rows·cols] chosen levels, sweep order.</summary>
    public int[] Levels { get; }

    /// <summary>Fixes (group, row)'s parameters from <paramref name="values"/> (before the sweep).</summary>
    public void SetParameters(int group, int row, ReadOnlySpan<double> values)
    {
        FindParameters(values, _maxq, _symmetric, _mse, out float scale, out int zero, _fp16);
        Scales[group * _rows + row] = scale;
        Zeros[group * _rows + row] = zero;
    }

    /// <inheritdoc/>
    public void BeginGroup(int row, int position, ReadOnlySpan<double> values) => SetParameters(_groupAt[position], row, values);

    /// <inheritdoc/>
    public double Round(int row, int position, double value)
    {
        int g = _groupAt[position] * _rows + row;
        double scale = Scales[g];
        int zero = Zeros[g];
        int q = Level(value, scale, zero, _maxq);
        Levels[(long)row * _cols + position] = q;
        return scale * (q - zero);
    }

    /// <summary>clamp(round(x / scale) + zero, 0, maxq), rounding half to even.</summary>
    internal static int Level(double value, double scale, int zero, int maxq)
    {
        double q = Math.Round(value / scale, MidpointRounding.ToEven) + zero;
        if (!(q > 0)) return 0;
        return q >= maxq ? maxq : (int)q;
    }

    /// <summary>Quantizer.find_params for one row of one group.</summary>
    internal static void FindParameters(ReadOnlySpan<double> x, int maxq, bool symmetric, bool mse, out float scale, out int zero, bool fp16 = false)
    {
        double xmin = 0, xmax = 0;
        foreach (double v in x)
        {
            if (v < xmin) xmin = v;
            if (v > xmax) xmax = v;
        }
        if (symmetric)
        {
            xmax = Math.Max(-xmin, xmax);
            if (xmin < 0) xmin = -xmax;
        }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
        int symZero = (maxq + 1) / 2;
        scale = (float)((xmax - xmin) / maxq);
        // A range below fp32's normal range would give scale 0 and NaN levels; use the smallest normal scale.
        if (scale == 0) scale = SmallestNormal;
        if (fp16) scale = RtnGridQuantizer.Fp16Scale(scale);
        zero = symmetric ? symZero : RoundEven(-xmin / scale);
        if (!mse) return;

        double best = double.PositiveInfinity;
        int steps = (int)(MseMaxShrink * MseGrid);
        for (int i = 0; i < steps; i++)
        {
            double p = 1 - (double)i / MseGrid;
            double lo = p * xmin, hi = p * xmax;
            float s = (float)((hi - lo) / maxq);
            if (s == 0) continue;
            if (fp16) s = RtnGridQuantizer.Fp16Scale(s);
            int z = symmetric ? symZero : RoundEven(-lo / s);
            double err = 0;
            foreach (double v in x)
            {
                double d = s * (double)(Level(v, s, z, maxq) - z) - v;
                err += Math.Pow(Math.Abs(d), MseNorm);
            }
            if (err < best)
            {
                best = err;
                scale = s;
                zero = z;
            }
        }
    }

    private static int RoundEven(double v) => (int)Math.Round(v, MidpointRounding.ToEven);
}
