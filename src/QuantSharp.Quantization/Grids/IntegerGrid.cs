// Uniform integer grids, 2–8 bits, symmetric or asymmetric, with GPTQ's min/max scale and zero-point choice.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// b-bit unsigned codes q ∈ [0, 2^b − 1] with value s·(q − z), scale s and zero point z per group,
/// chosen as the reference GPTQ / AutoGPTQ Quantizer.find_params does:
/// xmin = min(min x, 0), xmax = max(max x, 0); symmetric: xmax = max(|xmin|, xmax) and, when xmin &lt; 0,
/// xmin = −xmax; an all-zero group uses [−1, 1]; s = (xmax − xmin)/(2^b − 1);
/// z = 2^(b−1) when symmetric, else round(−xmin/s) (half to even); q = clamp(round(x/s) + z, 0, 2^b − 1).
/// All in fp32 as torch does. With <see cref="MseClipping"/> the range is then shrunk as in GPTQ's
/// "mse" option (<see cref="MseClippingSearch"/>).
/// <para>Error bound (<see cref="ErrorBound"/>): with lo = −z·s and hi = (2^b − 1 − z)·s the ends of
/// the grid, |x − x̂| ≤ max(s/2, dist(x, [lo, hi])) — half a step inside the grid, the clipping
/// distance outside it. With min/max parameters every x lies within s/2 of [lo, hi], so the bound is
/// s/2, except for GPTQ's symmetric grid on a group with no negative value: xmin stays 0, s = xmax/(2^b − 1)
/// and the grid tops out at (2^(b−1) − 1)·s ≈ xmax/2, so larger values are clipped (the reference
/// implementation behaves so; it is kept for compatibility). With MSE clipping the per-value bound is
/// the same formula for the shrunken s, z, and Σ|x − x̂|^2.4 over the group is at most min/max's.</para>
/// </summary>
public sealed class IntegerGrid : GroupedGrid
{
    /// <summary>Creates a grid.</summary>
    /// <param name="bits">Code width, 2–8.</param>
    /// <param name="symmetric">GPTQ's symmetric grid (z = 2^(b−1)) rather than asymmetric min/max.</param>
    /// <param name="grouping">Scale sharing.</param>
    /// <param name="mseClipping">Search a shrunken range (GPTQ's mse option); null for plain min/max.</param>
    public IntegerGrid(int bits, bool symmetric, GridGrouping grouping, MseClippingSearch? mseClipping = null) : base(grouping)
    {
        if (bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "integer grids have 2–8 bits");
        Bits = bits;
        Symmetric = symmetric;
        MseClipping = mseClipping;
    }

    /// <summary>Code width.</summary>
    public int Bits { get; }

    /// <summary>Whether the zero point is fixed at 2^(bits−1).</summary>
    public bool Symmetric { get; }

    /// <summary>The clipping search, or null for min/max.</summary>
    public MseClippingSearch? MseClipping { get; }

    /// <summary>Largest code, 2^bits − 1.</summary>
    public int MaxCode => (1 << Bits) - 1;

    /// <inheritdoc/>
    public override string Name => $"int{Bits}-{(Symmetric ? "sym" : "asym")}{(MseClipping is null ? "" : "-mse")} {Grouping}";

    /// <inheritdoc/>
    public override int CodeBits => Bits;

    /// <inheritdoc/>
    protected override bool HasZeros => true;

    /// <summary>
    /// GPTQ's min/max parameters for one group (find_params without the MSE search).
    /// </summary>
    public static (float Scale, byte Zero) MinMaxParameters(ReadOnlySpan<float> values, int bits, bool symmetric)
    {
        int maxq = (1 << bits) - 1;
        float min = 0, max = 0;
        foreach (float v in values)
        {
            min = MathF.Min(min, v);
            max = MathF.Max(max, v);
        }
        return ParametersForRange(min, max, maxq, symmetric);
    }

    /// <summary>Scale and zero point for the range [xmin ≤ 0, xmax ≥ 0], as find_params computes them.</summary>
    internal static (float Scale, byte Zero) ParametersForRange(float xmin, float xmax, int maxq, bool symmetric)
    {
        if (symmetric)
        {
            xmax = MathF.Max(MathF.Abs(xmin), xmax);
            if (xmin < 0) xmin = -xmax;
        }
        if (xmin == 0 && xmax == 0) { xmin = -1; xmax = 1; }
        float scale = (xmax - xmin) / maxq;
        // -xmin/scale lies in [0, maxq] (xmin ≤ 0 ≤ xmax), so the rounded zero point fits a byte.
        byte zero = symmetric ? (byte)((maxq + 1) / 2) : (byte)MathF.Round(-xmin / scale, MidpointRounding.ToEven);
        return (scale, zero);
    }

    /// <summary>The code of <paramref name="x"/>: clamp(round(x/s) + z, 0, maxq), round half to even (torch.round).</summary>
    public static byte Code(float x, float scale, byte zero, int maxq)
    {
        float q = MathF.Round(x / scale, MidpointRounding.ToEven) + zero;
        return (byte)Math.Clamp(q, 0f, maxq);
    }

    /// <summary>The value of code <paramref name="q"/>: s·(q − z) in fp32.</summary>
    public static float Value(byte q, float scale, byte zero) => scale * (q - zero);

    /// <inheritdoc/>
    protected override float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
    {
        float scale;
        if (MseClipping is null) (scale, zero) = MinMaxParameters(values, Bits, Symmetric);
        else (scale, zero) = MseClipping.FindParameters(values, Bits, Symmetric);
        if (float.IsInfinity(scale))
            throw new ArgumentException($"{Name}: a group spans more than the fp32 range (max − min overflows), so no finite scale fits it", nameof(values));
        for (int i = 0; i < values.Length; i++) codes[i] = Code(values[i], scale, zero, MaxCode);
        return scale;
    }

    /// <inheritdoc/>
    protected override void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination)
    {
        for (int i = 0; i < codes.Length; i++) destination[i] = Value(codes[i], scale, zero);
    }

    /// <inheritdoc/>
    public override double ErrorBound(float value, float scale, byte zero)
    {
        double lo = -(double)zero * scale, hi = (double)(MaxCode - zero) * scale;
        double outside = Math.Max(0, Math.Max(lo - value, value - hi));
        // fp32: x/s is rounded once (≤ 2^-24 relative, i.e. ≤ 2^-24·|x| after scaling back) and s·(q − z) once.
        double rounding = Math.Pow(2, -23) * (Math.Abs(value) + Math.Max(Math.Abs(lo), Math.Abs(hi)));
        // A subnormal product s·(q − z) rounds by up to 2^-150 absolute.
        return Math.Max(scale / 2.0, outside) + rounding + Math.ScaleB(1.0, -149);
    }
}
