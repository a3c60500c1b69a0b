// The roles a tensor of a decoder-only transformer can play, independent of what a file calls it.
namespace QuantSharp.Models.Architectures;

/// <summary>
/// What a tensor is for in the model. Per-layer roles (everything between <see cref="AttentionNorm"/> and
/// <see cref="Down"/>) exist once per decoder layer; the others once per model. Which optional roles a
/// model has is decided by its <see cref="ModelArchitecture"/>.
/// </summary>
public enum TensorRole
{
    /// <summary>Token embedding [vocab, dim].</summary>
    TokenEmbedding,
    /// <summary>Final norm before the classifier.</summary>
    OutputNorm,
    /// <summary>Classifier [vocab, dim] (absent when tied to the embedding).</summary>
    Output,
    /// <summary>Norm before attention.</summary>
    AttentionNorm,
    /// <summary>Query projection.</summary>
    Q,
    /// <summary>Key projection.</summary>
    K,
    /// <summary>Value projection.</summary>
    V,
    /// <summary>Attention output projection.</summary>
    O,
    /// <summary>Query bias (Qwen2).</summary>
    QBias,
    /// <summary>Key bias (Qwen2).</summary>
    KBias,
    /// <summary>Value bias (Qwen2).</summary>
    VBias,
    /// <summary>Per-head RMSNorm of queries before RoPE (Qwen3), [head_dim].</summary>
    QNorm,
    /// <summary>Per-head RMSNorm of keys before RoPE (Qwen3), [head_dim].</summary>
    KNorm,
    /// <summary>Norm of the attention output before the residual add (Gemma's sandwich norms).</summary>
    AttentionPostNorm,
    /// <summary>Norm before the MLP.</summary>
    FfnNorm,
    /// <summary>Norm of the MLP output before the residual add (Gemma's sandwich norms).</summary>
    FfnPostNorm,
    /// <summary>MLP gate projection.</summary>
    Gate,
    /// <summary>MLP up projection.</summary>
    Up,
    /// <summary>MLP down projection.</summary>
    Down,
    /// <summary>Mixture of experts: the router [experts, dim].</summary>
    Router,
    /// <summary>Mixture of experts: one expert's gate projection (GGUF stacks all experts in one 3-D tensor).</summary>
    ExpertGate,
    /// <summary>Mixture of experts: one expert's up projection.</summary>
    ExpertUp,
    /// <summary>Mixture of experts: one expert's down projection.</summary>
    ExpertDown,
}
