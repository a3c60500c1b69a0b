// The output of the layer-streaming runner for one decoder layer: every tensor an exporter writes for it.
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// One quantized decoder layer: its linear layers — for a mixture of experts, q/k/v/o and each expert's
/// gate/up/down (the router stays in full precision) — and its vectors (norms, biases, q/k norms) and router as the
/// run used them: a layer transform (AWQ, a rotation) changes norms and a rotation the router, so exporters write them
/// from here, never from the source model.
/// </summary>
public sealed class QuantizedDecoderLayer
{
    /// <summary>Decoder layer index.</summary>
    public required int Index { get; init; }

    /// <summary>Indexed by <see cref="LlamaLinear"/>; in a mixture-of-experts layer gate/up/down are null (see <see cref="Experts"/>).</summary>
    public required QuantizedLinear?[] Linears { get; init; }

    /// <summary>Each expert's quantized gate, up and down, indexed [linear − Gate][expert]; null for a dense layer.</summary>
    public QuantizedLinear[][]? Experts { get; init; }

    /// <summary>
    /// The layer's vectors by role — <see cref="TensorRole.AttentionNorm"/>, <see cref="TensorRole.FfnNorm"/> and the
    /// architecture's optional ones (biases, q/k norms, post-norms) — in the model's in-memory convention (a (1 + w) norm
    /// holds 1 + w), after the run's transforms.
    /// </summary>
    public IReadOnlyDictionary<TensorRole, float[]> Vectors { get; init; } = new Dictionary<TensorRole, float[]>();

    /// <summary>
    /// The router of a mixture-of-experts layer, [experts, hidden] row-major in fp32, as the run used it when a layer
    /// transform may have changed it (a rotation does); null when the run read the model's router unchanged (no transform,
    /// or a dense layer): exporters then write the model's.
    /// </summary>
    public float[]? Router { get; init; }

    /// <summary>The vector of <paramref name="role"/>; throws when the run did not record it.</summary>
    public float[] Vector(TensorRole role) => Vectors.TryGetValue(role, out var v) ? v
        : throw new InvalidOperationException($"layer {Index}: the quantization run recorded no {role} vector");

    /// <summary>The quantized <paramref name="linear"/> of a dense layer (q/k/v/o of any layer).</summary>
    public QuantizedLinear this[LlamaLinear linear] => Linears[(int)linear]
        ?? throw new InvalidOperationException($"layer {Index}: {linear} is an expert tensor in this mixture-of-experts layer; ask Expert(linear, expert)");

    /// <summary>Expert <paramref name="expert"/>'s quantized gate, up or down.</summary>
    public QuantizedLinear Expert(LlamaLinear linear, int expert)
    {
        if (Experts is null) throw new InvalidOperationException($"layer {Index} is dense: it has no experts");
        if (linear is not (LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down))
            throw new ArgumentOutOfRangeException(nameof(linear), linear, "experts have gate, up and down only");
        return Experts[linear - LlamaLinear.Gate][expert];
    }
}
