// One decoder-only architecture described as data: its flags, tensor names and linear groups.
using QuantSharp.Models.Llama;

namespace QuantSharp.Models.Architectures;

/// <summary>The MLP's gate activation.</summary>
public enum Activation
{
    /// <summary>SiLU (x·σ(x)): Llama, Mistral, Qwen.</summary>
    Silu,
    /// <summary>GELU with the tanh approximation (transformers' gelu_pytorch_tanh): Gemma.</summary>
    GeluTanh,
}

/// <summary>Whether and how a config declares sliding-window attention.</summary>
public enum SlidingWindowStyle
{
    /// <summary>The architecture has none; a config asking for one is refused.</summary>
    None,
    /// <summary>Mistral: <c>sliding_window</c> applies to every layer (null = none).</summary>
    EveryLayer,
    /// <summary>Qwen2/Qwen3: only with <c>use_sliding_window</c> true (then refused: per-layer windows are not implemented).</summary>
    Optional,
    /// <summary>
    /// Gemma 3: local (windowed) layers and global layers interleaved — <c>layer_types</c>, or every
    /// <c>sliding_window_pattern</c>-th layer global — the local ones with their own RoPE base
    /// (<c>rope_local_base_freq</c>, no scaling).
    /// </summary>
    Interleaved,
}

/// <summary>A group of linear layers that read the same activations, in the true-sequential order a quantizer visits them.</summary>
/// <param name="Input">The activations they read.</param>
/// <param name="Linears">The linears of the group.</param>
public sealed record LinearGroup(LinearInputGroup Input, LlamaLinear[] Linears);

/// <summary>
/// A decoder-only architecture as data. Everything that differs between the supported families — which
/// optional tensors a block has, how the files name them, how the GGUF pairs RoPE dimensions, which
/// config keys select a variant — is a field here, so that adding a family that differs only in such
/// flags is a table entry in <see cref="ModelArchitectures"/>. The forward, the loaders, the exporter and
/// the quantizers read these fields and contain no per-family branches.
/// </summary>
public sealed record ModelArchitecture
{
    /// <summary>Hugging Face <c>model_type</c>, e.g. "qwen2".</summary>
    public required string Name { get; init; }
    /// <summary>Hugging Face <c>architectures[0]</c> values this entry accepts.</summary>
    public required string[] HfArchitectures { get; init; }
    /// <summary>llama.cpp's <c>general.architecture</c> for this family.</summary>
    public required string GgufArchitecture { get; init; }
    /// <summary>
    /// How llama.cpp's GGUF of this family pairs RoPE dimensions: <see cref="RopeLayout.Interleaved"/> for
    /// "llama" (the converter permutes q/k rows), <see cref="RopeLayout.HalfSplit"/> for NeoX-style families
    /// (Qwen), whose rows are stored as in Hugging Face.
    /// </summary>
    public required RopeLayout GgufRopeLayout { get; init; }
    /// <summary>q/k/v projections have biases (Qwen2).</summary>
    public bool QkvBias { get; init; }
    /// <summary>Per-head RMSNorm of queries and keys before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>The MLP gate activation.</summary>
    public Activation Activation { get; init; } = Activation.Silu;
    /// <summary>Norms of the attention output and of the MLP output before each residual add (Gemma).</summary>
    public bool PostNorms { get; init; }
    /// <summary>
    /// Hugging Face stores norm weights w of a norm that multiplies by 1 + w (Gemma); the model keeps 1 + w,
    /// as llama.cpp's GGUF stores it, and Hugging Face writers subtract the 1 again.
    /// </summary>
    public bool NormPlusOne { get; init; }
    /// <summary>The token embedding is multiplied by √hidden (Gemma).</summary>
    public bool EmbeddingScaled { get; init; }
    /// <summary>
    /// The MLP is a mixture of experts (Qwen3-MoE, Mixtral): a router picks the top-k experts per token
    /// from a softmax over all experts; their outputs are summed with the (optionally renormalised) weights.
    /// </summary>
    public bool Moe { get; init; }
    /// <summary>Tensor names in Hugging Face files.</summary>
    public TensorNaming HfNaming { get; init; } = TensorNaming.HuggingFace;
    /// <summary>Tensor names in llama.cpp's GGUF of this family (Phi-3 keeps q/k/v and gate/up fused there too).</summary>
    public TensorNaming GgufNaming { get; init; } = TensorNaming.Gguf;
    /// <summary>
    /// llama.cpp's graph for this family sizes attn_output as [hidden, hidden] (phi3), so a GGUF needs
    /// heads × head_dim = hidden.
    /// </summary>
    public bool GgufNeedsQueryWidthEqualHidden { get; init; }
    /// <summary>Config keys this family implements that are refused for the others (e.g. Gemma's query_pre_attn_scalar).</summary>
    public string[] ImplementedKeys { get; init; } = [];
    /// <summary>
    /// llama.cpp's fixed rules for this family in GGUF, when it has them: the sliding-window pattern
    /// (every n-th layer global) and the RoPE base of the local layers (Gemma 3: 6 and 10,000).
    /// </summary>
    public (int Pattern, float LocalRopeTheta)? GgufSlidingWindowRule { get; init; }
    /// <summary>How the config declares a sliding window.</summary>
    public SlidingWindowStyle SlidingWindow { get; init; }

    /// <summary>The optional per-layer tensors this family has (beyond norms and the seven linears).</summary>
    public IEnumerable<TensorRole> OptionalLayerTensors
    {
        get
        {
            if (QkvBias) { yield return TensorRole.QBias; yield return TensorRole.KBias; yield return TensorRole.VBias; }
            if (QkNorm) { yield return TensorRole.QNorm; yield return TensorRole.KNorm; }
            if (PostNorms) { yield return TensorRole.AttentionPostNorm; yield return TensorRole.FfnPostNorm; }
        }
    }

    /// <summary>The linears of a decoder layer grouped by shared input, in true-sequential order (AutoGPTQ's).</summary>
    public IReadOnlyList<LinearGroup> LinearGroups { get; init; } =
    [
        new(LinearInputGroup.AttentionInput, [LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V]),
        new(LinearInputGroup.AttentionOutput, [LlamaLinear.O]),
        new(LinearInputGroup.MlpInput, [LlamaLinear.Gate, LlamaLinear.Up]),
        new(LinearInputGroup.MlpHidden, [LlamaLinear.Down]),
    ];

    /// <summary>The linears that read <paramref name="input"/>.</summary>
    public LlamaLinear[] LinearsReading(LinearInputGroup input)
    {
        foreach (var g in LinearGroups)
            if (g.Input == input) return g.Linears;
        return [];
    }

    /// <summary>The group whose input <paramref name="linear"/> reads.</summary>
    public LinearInputGroup InputOf(LlamaLinear linear)
    {
        foreach (var g in LinearGroups)
            if (Array.IndexOf(g.Linears, linear) >= 0) return g.Input;
        throw new ArgumentOutOfRangeException(nameof(linear), linear, $"{Name} has no linear {linear}");
    }
}
