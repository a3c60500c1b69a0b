// Settings of AWQ's activation-aware scale search and weight clipping search.
namespace QuantSharp.Quantization.Awq;

/// <summary>Settings of <see cref="AwqLayerTransform"/>; the defaults are AutoAWQ's.</summary>
public sealed record AwqOptions
{
    /// <summary>Points of the exponent grid: α = i / <see cref="Grid"/> for i = 0 … Grid − 1 (AutoAWQ's n_grid, 20).</summary>
    public int Grid { get; init; } = 20;

    /// <summary>
    /// AutoAWQ's duo_scaling: s = mean|x|^α / (mean|ŵ|^(1−α) + 1e-4) with ŵ the weights normalised by their group's max;
    /// false (the paper's form, the default here): s = mean|x|^α.
    /// </summary>
    public bool DuoScaling { get; init; }

    /// <summary>
    /// Use this α for every group instead of searching (ablations, and the check that folding alone keeps the function);
    /// null: search the grid.
    /// </summary>
    public double? FixedAlpha { get; init; }

    /// <summary>Search a clipping range per output row and group after scaling (AutoAWQ's auto_clip; q/k are skipped).</summary>
    public bool Clip { get; init; } = true;

    /// <summary>Steps of the clipping grid: max|w| is shrunk by 1 − i / ClipGrid (AutoAWQ: 20).</summary>
    public int ClipGrid { get; init; } = 20;

    /// <summary>Largest shrink of max|w| tried: steps i &lt; MaxShrink · ClipGrid (AutoAWQ: 0.5, so down to 55 %).</summary>
    public double MaxShrink { get; init; } = 0.5;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Grid < 1) throw new ArgumentOutOfRangeException(nameof(Grid), Grid, "the AWQ grid needs at least one point");
        if (FixedAlpha is { } a && !(a >= 0 && a <= 1)) throw new ArgumentOutOfRangeException(nameof(FixedAlpha), a, "α must be in [0, 1]");
        if (ClipGrid < 1) throw new ArgumentOutOfRangeException(nameof(ClipGrid), ClipGrid, "the clipping grid needs at least one step");
        if (!(MaxShrink >= 0 && MaxShrink < 1)) throw new ArgumentOutOfRangeException(nameof(MaxShrink), MaxShrink, "the largest shrink must be in [0, 1)");
    }
}
