// QLoRA's 4-bit NormalFloat: 16 levels fitted to a normal distribution, scaled by each block's absmax.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// NF4 (Dettmers et al., QLoRA, 2023) as bitsandbytes implements it: per group (bitsandbytes'
/// blocksize, 64 by default, over the flattened tensor — the same blocks as per-row groups when
/// the row length is a multiple of the block size) the scale is the absmax A, each value is
/// normalised as x·(1/A) and mapped to a code by bitsandbytes' decision tree (dQuantizeNF4, whose
/// thresholds are the midpoints of neighbouring levels, a value on a threshold taking the lower
/// code), and decodes to level[code]·A. The absmax is kept in fp32 (no double quantization).
/// An all-zero group is stored with A = 0 and code 7 (the level 0).
/// <para>Error bound: per value, half the gap between the two levels around x/A, times A; overall,
/// the widest gap between levels is the first, 1 − 0.6961928 = 0.3038, so
/// |x − x̂| ≤ 0.1519036·A, plus the thresholds' offset from the exact midpoints (≤ 2.6e-7·A) and fp32
/// rounding (a few 2^−24·A, and 2^−149 absolute when level·A is subnormal).</para>
/// </summary>
public sealed class Nf4Grid : GroupedGrid
{
    /// <summary>The 16 NF4 levels (bitsandbytes' constants, as fp32).</summary>
    public static ReadOnlySpan<float> Levels =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>bitsandbytes' decision thresholds: code c + 1 is chosen for normalised x &gt; Thresholds[c].</summary>
    private static ReadOnlySpan<float> Thresholds =>
    [
        -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
        -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
        0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
        0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
    ];

    /// <summary>Half the widest gap between neighbouring levels (−1 and −0.696), as a fraction of the absmax.</summary>
    public const double MaxRelativeError = 0.1519036;

    /// <summary>Creates an NF4 grid; bitsandbytes' default is <c>GridGrouping.PerGroup(64)</c>.</summary>
    public Nf4Grid(GridGrouping grouping) : base(grouping) { }

    /// <inheritdoc/>
    public override string Name => $"nf4 {Grouping}";

    /// <inheritdoc/>
    public override int CodeBits => 4;

    /// <summary>The code of a value already divided by its absmax (bitsandbytes' dQuantizeNF4).</summary>
    public static byte Code(float normalized)
    {
        // The tree compares against the thresholds in order of a binary search; for a sorted table
        // that is the count of thresholds strictly below the value (NaN: none, code 0, as in the tree).
        var t = Thresholds;
        int code = 0;
        for (int i = 0; i < t.Length; i++) if (normalized > t[i]) code = i + 1;
        return (byte)code;
    }

    /// <inheritdoc/>
    protected override float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
    {
        zero = 0;
        float absmax = AbsMax(values);
        if (absmax == 0)
        {
            codes.Fill(7);
            return 0;
        }
        float inverse = 1 / absmax;
        // Below 2^-128 the reciprocal overflows; divide instead (bitsandbytes would produce NaN codes there).
        if (float.IsInfinity(inverse)) for (int i = 0; i < values.Length; i++) codes[i] = Code(values[i] / absmax);
        else for (int i = 0; i < values.Length; i++) codes[i] = Code(values[i] * inverse);
        return absmax;
    }

    /// <inheritdoc/>
    protected override void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination)
    {
        var levels = Levels;
        for (int i = 0; i < codes.Length; i++) destination[i] = levels[codes[i] & 0xF] * scale;
    }

    /// <summary>
    /// Half the gap between the two levels around value/scale (at most <see cref="MaxRelativeError"/>)
    /// times the scale, plus 1e-6·scale for the fp32 thresholds and products.
    /// </summary>
    public override double ErrorBound(float value, float scale, byte zero)
    {
        if (scale == 0) return Math.Abs((double)value);
        var levels = Levels;
        double v = Math.Clamp((double)value / scale, -1, 1);
        int i = 0;
        while (i < 14 && v > levels[i + 1]) i++;
        return ((levels[i + 1] - (double)levels[i]) / 2 + 1e-6) * scale + Math.ScaleB(1.0, -149);
    }
}
