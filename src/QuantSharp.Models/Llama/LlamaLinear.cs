// Names the seven linear layers of a Llama decoder layer, in the order a true-sequential quantizer visits them.
using QuantSharp.Models.Architectures;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Models.Llama;

/// <summary>The linear layers of one decoder layer, in true-sequential order (q, k, v, o, gate, up, down).</summary>
public enum LlamaLinear
{
    /// <summary>q_proj.</summary>
    Q,
    /// <summary>k_proj.</summary>
    K,
    /// <summary>v_proj.</summary>
    V,
    /// <summary>o_proj.</summary>
    O,
    /// <summary>gate_proj.</summary>
    Gate,
    /// <summary>up_proj.</summary>
    Up,
    /// <summary>down_proj.</summary>
    Down,
}

/// <summary>Lookups over <see cref="LlamaLinear"/>.</summary>
public static class LlamaLinearExtensions
{
    /// <summary>All seven, in true-sequential order.</summary>
    public static readonly LlamaLinear[] All = [LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V, LlamaLinear.O, LlamaLinear.Gate, LlamaLinear.Up, LlamaLinear.Down];

    /// <summary>The weight view of <paramref name="linear"/> in <paramref name="layer"/>.</summary>
    public static TensorView Weight(this LlamaLayerWeights layer, LlamaLinear linear) => linear switch
    {
        LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down when layer.Experts != null =>
            throw new NotSupportedException($"{linear} of a mixture-of-experts layer: the MLP has one such linear per expert"),
        LlamaLinear.Q => layer.Wq,
        LlamaLinear.K => layer.Wk,
        LlamaLinear.V => layer.Wv,
        LlamaLinear.O => layer.Wo,
        LlamaLinear.Gate => layer.WGate,
        LlamaLinear.Up => layer.WUp,
        _ => layer.WDown,
    };

    /// <summary>The tensor role of <paramref name="linear"/>.</summary>
    public static Architectures.TensorRole Role(this LlamaLinear linear) => linear switch
    {
        LlamaLinear.Q => Architectures.TensorRole.Q,
        LlamaLinear.K => Architectures.TensorRole.K,
        LlamaLinear.V => Architectures.TensorRole.V,
        LlamaLinear.O => Architectures.TensorRole.O,
        LlamaLinear.Gate => Architectures.TensorRole.Gate,
        LlamaLinear.Up => Architectures.TensorRole.Up,
        _ => Architectures.TensorRole.Down,
    };

    /// <summary>The linear of tensor role <paramref name="role"/> (one of the seven linear roles).</summary>
    public static LlamaLinear FromRole(Architectures.TensorRole role) => role switch
    {
        Architectures.TensorRole.Q => LlamaLinear.Q,
        Architectures.TensorRole.K => LlamaLinear.K,
        Architectures.TensorRole.V => LlamaLinear.V,
        Architectures.TensorRole.O => LlamaLinear.O,
        Architectures.TensorRole.Gate => LlamaLinear.Gate,
        Architectures.TensorRole.Up => LlamaLinear.Up,
        Architectures.TensorRole.Down => LlamaLinear.Down,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a linear role"),
    };

    /// <summary>llama.cpp's GGUF tensor name of <paramref name="linear"/> in layer <paramref name="i"/>.</summary>
    public static string GgufName(this LlamaLinear linear, int i) => Architectures.TensorNaming.Gguf.Name(linear.Role(), i);

    /// <summary>Hugging Face module path of <paramref name="linear"/> in layer <paramref name="i"/> (without ".weight").</summary>
    public static string HfModule(this LlamaLinear linear, int i) => linear switch
    {
        LlamaLinear.Q => $"model.layers.{i}.self_attn.q_proj",
        LlamaLinear.K => $"model.layers.{i}.self_attn.k_proj",
        LlamaLinear.V => $"model.layers.{i}.self_attn.v_proj",
        LlamaLinear.O => $"model.layers.{i}.self_attn.o_proj",
        LlamaLinear.Gate => $"model.layers.{i}.mlp.gate_proj",
        LlamaLinear.Up => $"model.layers.{i}.mlp.up_proj",
        _ => $"model.layers.{i}.mlp.down_proj",
    };
}
