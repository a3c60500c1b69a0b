// FP4 E2M1 values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} with an fp32 scale per group: x ≈ s·e2m1(x/s).
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// FP4 (E2M1) with a free fp32 scale s = absmax/6 per group (the layout NVFP4-style schemes use,
/// without their FP8 scale storage): code = round-to-nearest-even E2M1 of x/s, value = decode·s.
/// For microscaling with power-of-two scales see <see cref="MxFp4Grid"/>.
/// <para>Error bound: |x/s| ≤ 6 and E2M1's gaps are 0.5 up to 2, 1 up to 4 and 2 up to 6, so half a
/// gap is at most max(1/4, |v|/4): |x − x̂| ≤ max(s/4, |x|/4) plus fp32 rounding (2^−23 relative).</para>
/// </summary>
public sealed class Fp4Grid : GroupedGrid
{
    /// <summary>Creates an E2M1 grid with per-group fp32 scales.</summary>
    public Fp4Grid(GridGrouping grouping) : base(grouping) { }

    /// <inheritdoc/>
    public override string Name => $"fp4-e2m1 {Grouping}";

    /// <inheritdoc/>
    public override int CodeBits => 4;

    /// <inheritdoc/>
    protected override float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
        => ScaledMiniFloat.QuantizeGroup(MiniFloat.E2M1, values, codes, out zero);

    /// <inheritdoc/>
    protected override void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination)
        => ScaledMiniFloat.DequantizeGroup(MiniFloat.E2M1, codes, scale, destination);

    /// <inheritdoc/>
    public override double ErrorBound(float value, float scale, byte zero) => ScaledMiniFloat.ErrorBound(MiniFloat.E2M1, value, scale);
}
