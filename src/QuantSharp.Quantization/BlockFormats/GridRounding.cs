// Nearest-level search on the grids of the block formats, checked against the dequantized values themselves.
using System.Runtime.CompilerServices;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Picks the level whose dequantized value (computed with the same float operations as
/// BlockDequantizer) is nearest to a target: an estimate from division, then its two neighbours, so
/// float rounding in the estimate can never leave a nearer level unused. Ties keep the lower level.
/// </summary>
internal static class GridRounding
{
    /// <summary>Levels l in [lo, hi] that dequantize to scale·(l + offset) (offset folded into the integer first).</summary>
    public static int NearestScaled(float x, float scale, int offset, int lo, int hi)
    {
        if (scale == 0) return Math.Clamp(-offset, lo, hi);
        int l = Estimate((double)x / scale - offset, lo, hi);
        int best = l;
        float bestErr = MathF.Abs((l + offset) * scale - x);
        Consider(l - 1, x, lo, hi, ref best, ref bestErr, (l - 1 + offset) * scale);
        Consider(l + 1, x, lo, hi, ref best, ref bestErr, (l + 1 + offset) * scale);
        return best;
    }

    /// <summary>Levels l in [lo, hi] that dequantize to d·l − m.</summary>
    public static int NearestAffine(float x, float d, float m, int lo, int hi)
    {
        if (d == 0) return lo;
        int l = Estimate(((double)x + m) / d, lo, hi);
        int best = l;
        float bestErr = MathF.Abs(d * l - m - x);
        Consider(l - 1, x, lo, hi, ref best, ref bestErr, d * (l - 1) - m);
        Consider(l + 1, x, lo, hi, ref best, ref bestErr, d * (l + 1) - m);
        return best;
    }

    /// <summary>Index into the sorted table <paramref name="values"/> with d·values[i] nearest to x.</summary>
    public static int NearestInTable(float x, float d, ReadOnlySpan<sbyte> values)
    {
        if (d == 0) return 0;
        int l = GgmlScalar.BestIndex(values, x / d);
        int best = l;
        float bestErr = MathF.Abs(d * values[l] - x);
        if (l > 0) Consider(l - 1, x, 0, values.Length - 1, ref best, ref bestErr, d * values[l - 1]);
        if (l + 1 < values.Length) Consider(l + 1, x, 0, values.Length - 1, ref best, ref bestErr, d * values[l + 1]);
        return best;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Estimate(double level, int lo, int hi)
    {
        // Clamp in double first: a tiny scale makes the quotient exceed the int range.
        if (!(level > lo)) return lo;
        if (level >= hi) return hi;
        return (int)Math.Round(level, MidpointRounding.ToEven);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(int l, float x, int lo, int hi, ref int best, ref float bestErr, float value)
    {
        if (l < lo || l > hi) return;
        float err = MathF.Abs(value - x);
        if (err < bestErr || (err == bestErr && l < best)) { best = l; bestErr = err; }
    }
}
