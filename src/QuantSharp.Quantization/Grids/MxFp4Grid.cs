// OCP MXFP4: blocks of 32 E2M1 values sharing an E8M0 power-of-two scale.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// MXFP4 per the OCP Microscaling Formats specification v1.0: each block of 32 consecutive values
/// of a row (a shorter last block when the row length is not a multiple of 32) shares the scale
/// X = 2^(⌊log2 amax⌋ − 2) (the spec's shared exponent with emax(E2M1) = 2, ⌊log2⌋ taken exactly from
/// the fp32 exponent, clamped to E8M0's 2^−127 … 2^127; an all-zero block gets 2^−127), and each value
/// is the round-to-nearest-even, saturating E2M1 conversion of x/X. Scales are returned as fp32 powers of
/// two; <see cref="E8M0.Encode"/> gives their bytes.
/// <para>Compared with ggml's GGUF MXFP4 (<see cref="BlockFormats.Mxfp4Format"/>): ggml takes the
/// exponent from log2f, which rounds up for values just below a power of two, and breaks ties toward
/// the smaller magnitude instead of the even code; the byte layout also differs (ggml pairs j with j + 16).</para>
/// <para>Error bound: amax/X ∈ [4, 8), and for |v| ≤ 8 nearest E2M1 with saturation at 6 errs by at most
/// max(1/4, |v|/4) (half gaps 0.25, 0.5, 1 below 2, 4, 6; v − 6 ≤ v/4 up to 8), so
/// |x − x̂| ≤ max(X/4, |x|/4) — at most amax/4, reached only by clipping values in (6X, 8X).</para>
/// </summary>
public sealed class MxFp4Grid : GroupedGrid
{
    /// <summary>Elements per block (OCP: k = 32).</summary>
    public const int BlockSize = 32;

    /// <summary>Creates the grid (its grouping is always blocks of 32 along rows).</summary>
    public MxFp4Grid() : base(GridGrouping.PerGroup(BlockSize)) { }

    /// <inheritdoc/>
    public override string Name => "mxfp4";

    /// <inheritdoc/>
    public override int CodeBits => 4;

    /// <summary>The shared scale X for a block whose largest magnitude is <paramref name="amax"/>.</summary>
    public static float SharedScale(float amax)
    {
        if (!(amax > 0)) return E8M0.Decode(0);
        int exponent = Math.ILogB((double)amax) - 2; // exact ⌊log2⌋, subnormals included
        return E8M0.Decode(E8M0.FromExponent(exponent));
    }

    /// <inheritdoc/>
    protected override float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero)
    {
        zero = 0;
        float scale = SharedScale(AbsMax(values));
        // x/X is exact (X a power of two, x/X ≤ 8 in magnitude, far from underflow or overflow).
        for (int i = 0; i < values.Length; i++) codes[i] = MiniFloat.E2M1.Encode((float)((double)values[i] / scale));
        return scale;
    }

    /// <inheritdoc/>
    protected override void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination)
    {
        for (int i = 0; i < codes.Length; i++) destination[i] = MiniFloat.E2M1.Decode(codes[i]) * scale;
    }

    /// <inheritdoc/>
    public override double ErrorBound(float value, float scale, byte zero) =>
        // Both x/X and code·X are exact except when code·X is an fp32 subnormal (X near 2^-127):
        // then the product rounds by at most half of 2^-149.
        Math.Max(scale / 4.0, Math.Abs((double)value) / 4.0) + Math.ScaleB(1.0, -150);
}
