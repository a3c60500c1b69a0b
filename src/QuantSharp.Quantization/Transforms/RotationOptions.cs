// Settings of a whole-model rotation: seed, whether R2 is applied, threads.
namespace QuantSharp.Quantization.Transforms;

/// <summary>Settings of <see cref="ModelRotation.Rotate"/>.</summary>
public sealed record RotationOptions
{
    /// <summary>Seed of the random signs (and of the orthogonal fallback). Same seed, same output bytes.</summary>
    public ulong Seed { get; init; }
    /// <summary>Also rotate each value head and the matching o_proj columns (R2).</summary>
    public bool HeadRotation { get; init; } = true;
    /// <summary>Worker threads (0 = the kernel setting: KernelOptions.Threads or the caller's ExecutionOptions scope, all cores by default); the output does not depend on it.</summary>
    public int Threads { get; init; }

    /// <summary>The seed of R2, a separate stream from R1's (the golden-ratio increment of SplitMix64 added).</summary>
    public ulong HeadSeed => unchecked(Seed + 0x9E3779B97F4A7C15UL);
}
