// Settings of one GPTQ run (bits, groups, ordering, dampening) shared by the quantizer and the CLI.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// GPTQ settings, named as in the reference implementation and AutoGPTQ's quantize_config.
/// </summary>
public sealed record GptqOptions
{
    /// <summary>Bits per weight of the integer grid, 2–8.</summary>
    public int Bits { get; init; } = 4;

    /// <summary>Columns sharing one scale/zero; 0 means one group per row (per-channel).</summary>
    public int GroupSize { get; init; } = 128;

    /// <summary>Symmetric grid (zero point fixed at 2^(bits−1)) rather than asymmetric min/max.</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>Process columns in order of decreasing Hessian diagonal ("desc_act").</summary>
    public bool ActOrder { get; init; }

    /// <summary>With act-order, fix every group's scale/zero from the unmodified weights before the sweep.</summary>
    public bool StaticGroups { get; init; }

    /// <summary>Fraction of the mean Hessian diagonal added to the diagonal ("damp_percent").</summary>
    public double Damping { get; init; } = 0.01;

    /// <summary>Columns per lazy-batch update.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Search a shrunken range per group that minimises the rounding error (GPTQ's "mse" option).</summary>
    public bool MseClip { get; init; }

    /// <summary>
    /// Round each scale to fp16 before its zero point and levels are chosen, as Hugging Face GPTQ
    /// checkpoints store them, so the exported file dequantizes to exactly the weights the run used.
    /// </summary>
    public bool Fp16Scales { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(Bits), Bits, "GPTQ bits must be 2–8");
        if (GroupSize < 0) throw new ArgumentOutOfRangeException(nameof(GroupSize), GroupSize, "group size must be ≥ 0 (0 = per channel)");
        if (!(Damping > 0 && Damping < 1)) throw new ArgumentOutOfRangeException(nameof(Damping), Damping, "dampening must be in (0, 1)");
        if (BlockSize <= 0) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "block size must be positive");
        if (StaticGroups && GroupSize == 0) throw new ArgumentOutOfRangeException(nameof(StaticGroups), "static groups need a group size");
    }
}
