// The tensors of one Llama decoder layer.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Models.Llama;

/// <summary>
/// One decoder layer. Linear weights are [out, in] views into the model file; norm vectors and biases
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
    public TensorView WGate { get; init; }
    /// <summary>SwiGLU up [hidden, dim].</summary>
    public TensorView WUp { get; init; }
    /// <summary>MLP down [dim, hidden].</summary>
    public TensorView WDown { get; init; }
    /// <summary>Query bias [heads·head_dim] (Qwen2), or null.</summary>
    public float[]? QBias { get; init; }
    /// <summary>Key bias [kv_heads·head_dim] (Qwen2), or null.</summary>
    public float[]? KBias { get; init; }
    /// <summary>Value bias [kv_heads·head_dim] (Qwen2), or null.</summary>
    public float[]? VBias { get; init; }
    /// <summary>Per-head query RMSNorm weight [head_dim] applied before RoPE (Qwen3), or null.</summary>
    public float[]? QNorm { get; init; }
    /// <summary>Per-head key RMSNorm weight [head_dim] applied before RoPE (Qwen3), or null.</summary>
    public float[]? KNorm { get; init; }
    /// <summary>The mixture of experts that replaces the dense MLP (then WGate/WUp/WDown are unset), or null.</summary>
    public ExpertWeights? Experts { get; init; }
    /// <summary>Norm of the attention output before the residual add (Gemma), or null.</summary>
    public float[]? AttentionPostNorm { get; init; }
    /// <summary>Norm of the MLP output before the residual add (Gemma), or null.</summary>
    public float[]? FfnPostNorm { get; init; }

    /// <summary>The small vector of optional role <paramref name="role"/> (bias or q/k norm), or null when the layer has none.</summary>
    public float[]? Vector(Architectures.TensorRole role) => role switch
    {
        Architectures.TensorRole.QBias => QBias,
        Architectures.TensorRole.KBias => KBias,
        Architectures.TensorRole.VBias => VBias,
        Architectures.TensorRole.QNorm => QNorm,
        Architectures.TensorRole.KNorm => KNorm,
        Architectures.TensorRole.AttentionNorm => AttentionNorm,
        Architectures.TensorRole.AttentionPostNorm => AttentionPostNorm,
        Architectures.TensorRole.FfnPostNorm => FfnPostNorm,
        Architectures.TensorRole.FfnNorm => FfnNorm,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a vector role"),
    };
}

/// <summary>A mixture-of-experts MLP: the router and each expert's gate/up/down views ([rows, columns] each).</summary>
public sealed class ExpertWeights
{
    /// <summary>Router [experts, dim].</summary>
    public required TensorView Router { get; init; }
    /// <summary>Each expert's gate projection [expert_hidden, dim].</summary>
    public required TensorView[] Gate { get; init; }
    /// <summary>Each expert's up projection [expert_hidden, dim].</summary>
    public required TensorView[] Up { get; init; }
    /// <summary>Each expert's down projection [dim, expert_hidden].</summary>
    public required TensorView[] Down { get; init; }
    /// <summary>Number of experts.</summary>
    public int Count => Gate.Length;

    /// <summary>The expert roles whose input is <paramref name="group"/>: gate and up read the MLP input, down the hidden activations.</summary>
    public static Architectures.TensorRole[] RolesReading(Architectures.LinearInputGroup group) => group == Architectures.LinearInputGroup.MlpInput
        ? [Architectures.TensorRole.ExpertGate, Architectures.TensorRole.ExpertUp]
        : group == Architectures.LinearInputGroup.MlpHidden ? [Architectures.TensorRole.ExpertDown] : [];

    /// <summary>The expert tensors that stand where a dense layer has <paramref name="linear"/> (gate, up or down), with their role.</summary>
    public (Architectures.TensorRole Role, TensorView[] Views) For(LlamaLinear linear) => linear switch
    {
        LlamaLinear.Gate => (Architectures.TensorRole.ExpertGate, Gate),
        LlamaLinear.Up => (Architectures.TensorRole.ExpertUp, Up),
        LlamaLinear.Down => (Architectures.TensorRole.ExpertDown, Down),
        _ => throw new ArgumentOutOfRangeException(nameof(linear), linear, "attention linears are not experts"),
    };
}
