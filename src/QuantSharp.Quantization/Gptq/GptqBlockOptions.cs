// Settings of GPTQ onto a GGUF block format: the target type, importance for the scale searches, dampening.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Gptq;

/// <summary>Settings of <see cref="GptqBlockQuantizer"/>.</summary>
public sealed record GptqBlockOptions
{
    /// <summary>The GGUF block type (one of <see cref="GptqBlockQuantizer.SupportedTypes"/>).</summary>
    public DType Type { get; init; } = DType.Q4_K;

    /// <summary>
    /// Pass diag(H) (= 2 · the imatrix's mean x²) to the format's scale search as per-column importance,
    /// as llama-quantize does with an imatrix; otherwise the format's reference search.
    /// </summary>
    public bool HessianImportance { get; init; } = true;

    /// <summary>Fraction of the mean Hessian diagonal added to the diagonal.</summary>
    public double Damping { get; init; } = 0.01;

    /// <summary>Columns per lazy-batch update.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!GptqBlockQuantizer.Supports(Type))
            throw new ArgumentOutOfRangeException(nameof(Type), Type, $"GPTQ onto GGUF blocks supports {string.Join(", ", GptqBlockQuantizer.SupportedTypes)}");
        if (!(Damping > 0 && Damping < 1)) throw new ArgumentOutOfRangeException(nameof(Damping), Damping, "dampening must be in (0, 1)");
        if (BlockSize <= 0) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "block size must be positive");
    }
}
