// FP8 (OCP E4M3 or E5M2) with an fp32 scale per tensor, channel or group: x ≈ s·fp8(x/s).
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// FP8 weights with a scale s = absmax/max finite (448 for E4M3, 57344 for E5M2) per group, as
/// transformers' / vLLM's FP8 checkpoints use per tensor or per channel: the code is the saturating,
/// round-to-nearest-even conversion of x/s (fp32 division, then <see cref="MiniFloat.Encode"/>), the
/// value decode(code)·s. An all-zero group has s = 0. A scale that is an fp32 subnormal is rounded up to
/// the first float with s·max ≥ absmax (plain rounding could leave x/s far beyond max).
/// <para>Error bound (<see cref="ErrorBound"/>): v = x/s lies within ±max (up to fp32 rounding, which
/// saturation absorbs), so |x − x̂| ≤ s·max(|v|·2^−(m+1), 2^(emin−m−1)) = max(|x|·2^−(m+1), s·2^(emin−m−1)):
/// E4M3 max(|x|/16, s/1024), E5M2 max(|x|/8, s/131072); plus fp32 rounding of x/s and of code·s
/// (2^−23 relative, 2^−149 absolute for subnormal results).</para>
/// </summary>
public sealed class Fp8Grid : GroupedGrid
{
    /// <summary>Creates an FP8 grid over <paramref name="format"/> (<see cref="MiniFloat.E4M3"/> or <see cref="MiniFloat.E5M2"/>).</summary>
    public Fp8Grid(MiniFloat format, GridGrouping grouping) : base(grouping)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (format.Bits != 8) throw new ArgumentException($"{format} is not an 8-bit format", nameof(format));
        Format = format;
    }

    /// <summary>The element format.</summary>
    public MiniFloat Format { get; }

    /// <inheritdoc/>
    public override string Name => $"{Format.Name} {Grouping}";

    /// <inheritdoc/>
    public override int CodeBits => 8;

    /// <inheritdoc/>
    protected override float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
        => ScaledMiniFloat.QuantizeGroup(Format, values, codes, out zero);

    /// <inheritdoc/>
    protected override void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination)
        => ScaledMiniFloat.DequantizeGroup(Format, codes, scale, destination);

    /// <inheritdoc/>
    public override double ErrorBound(float value, float scale, byte zero) => ScaledMiniFloat.ErrorBound(Format, value, scale);
}
