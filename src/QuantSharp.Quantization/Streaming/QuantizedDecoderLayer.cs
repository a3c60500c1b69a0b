// The output of the layer-streaming runner for one decoder layer.
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>One quantized decoder layer: its seven linear layers (and the norm weights, unchanged).</summary>
public sealed class QuantizedDecoderLayer
{
    /// <summary>Decoder layer index.</summary>
    public required int Index { get; init; }

    /// <summary>Indexed by <see cref="LlamaLinear"/>.</summary>
    public required QuantizedLinear[] Linears { get; init; }

    /// <summary>The quantized <paramref name="linear"/>.</summary>
    public QuantizedLinear this[LlamaLinear linear] => Linears[(int)linear];
}
