// The tensors of one Llama decoder layer.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Models.Llama;

/// <summary>
/// One decoder layer. Linear weights are [out, in] views into the model file; the two norm vectors
/// are small and kept as fp32 copies.
/// </summary>
public sealed class LlamaLayerWeights
{
    /// <summary>RMSNorm before attention.</summary>
    public required float[] AttentionNorm { get; init; }
    /// <summary>Query projection [heads·head_dim, dim].</summary>
    public required TensorView Wq { get; init; }
    /// <summary>Key projection [kv_heads·head_dim, dim].</summary>
    public required TensorView Wk { get; init; }
    /// <summary>Value projection [kv_heads·head_dim, dim].</summary>
    public required TensorView Wv { get; init; }
    /// <summary>Attention output projection [dim, heads·head_dim].</summary>
    public required TensorView Wo { get; init; }
    /// <summary>RMSNorm before the MLP.</summary>
    public required float[] FfnNorm { get; init; }
    /// <summary>SwiGLU gate [hidden, dim].</summary>
    public required TensorView WGate { get; init; }
    /// <summary>SwiGLU up [hidden, dim].</summary>
    public required TensorView WUp { get; init; }
    /// <summary>MLP down [dim, hidden].</summary>
    public required TensorView WDown { get; init; }
}
