// The absmax-scaled mini-float group quantizer shared by the FP8 and FP4 grids.
namespace QuantSharp.Quantization.Grids;

/// <summary>s = absmax / max finite; code = encode(x/s) (fp32 division, RNE, saturating); value = decode(code)·s.</summary>
internal static class ScaledMiniFloat
{
    public static float QuantizeGroup(MiniFloat format, ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
    {
        zero = 0;
        float absmax = 0;
        foreach (float v in values) absmax = MathF.Max(absmax, MathF.Abs(v));
        if (absmax == 0)
        {
            codes.Clear();
            return 0;
        }
        float scale = absmax / format.MaxFinite;
        // A subnormal scale can round far below absmax/max and push x/s past max (saturating by a large
        // fraction); round such a scale up instead so that absmax/s ≤ max still holds.
        if (scale < 1.17549435e-38f) // fp32 subnormal
            while ((double)scale * format.MaxFinite < absmax) scale = MathF.BitIncrement(scale);
        for (int i = 0; i < values.Length; i++) codes[i] = format.Encode(values[i] / scale);
        return scale;
    }

    public static void DequantizeGroup(MiniFloat format, ReadOnlySpan<byte> codes, float scale, Span<float> destination)
    {
        for (int i = 0; i < codes.Length; i++) destination[i] = format.Decode(codes[i]) * scale;
    }

    public static double ErrorBound(MiniFloat format, float value, float scale)
    {
        double v = (double)value / scale;
        if (scale == 0) return Math.Abs((double)value);
        // Rounding of x/s (relative 2^-24) moves v by at most that much, which the element bound at v
        // covers to first order; the final code·s product adds 2^-24 relative of |x̂| ≤ |x| + bound.
        double bound = scale * format.RoundingBound(v);
        // A subnormal product code·s rounds by up to 2^-150 absolute.
        return bound * (1 + 1e-6) + Math.Pow(2, -22) * (Math.Abs((double)value) + bound) + Math.ScaleB(1.0, -149);
    }
}
