// The transform stage of the per-layer pipeline (transforms → quantizer → layer result): AWQ scaling, and later rotations.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// A change of one decoder layer's weights that keeps its full-precision function (scales migrated between a norm and
/// the linears reading it, rotations) or deliberately trades a little of it for easier rounding (AWQ's clipping).
/// The layer-streaming runner calls each transform of <see cref="LayerStreamingOptions.Transforms"/> in order, before
/// its quantizer sees the layer; the quantizer then rounds the transformed weights, the layer's forward continues with
/// the transformed norms, and <see cref="QuantizedDecoderLayer"/> carries them to the exporters.
/// </summary>
public interface ILayerTransform
{
    /// <summary>Short name for logs ("awq").</summary>
    string Name { get; }

    /// <summary>True when the transform reads the layer's calibration inputs (the run then needs calibration data).</summary>
    bool NeedsCalibration { get; }

    /// <summary>Throws <see cref="NotSupportedException"/> naming the model and the reason when the transform cannot handle it (before any work).</summary>
    void ThrowIfUnsupported(LlamaModel model);

    /// <summary>Changes <see cref="LayerTransformContext.Tensors"/> in place.</summary>
    void Apply(LayerTransformContext context);
}

/// <summary>What a transform sees of one decoder layer.</summary>
public sealed class LayerTransformContext
{
    /// <summary>Decoder layer index.</summary>
    public required int Layer { get; init; }

    /// <summary>The model's hyperparameters.</summary>
    public required LlamaHyperParameters Parameters { get; init; }

    /// <summary>The layer's tensors in fp32 (norms, linears, biases), edited in place; earlier transforms' changes included.</summary>
    public required DecoderLayerTensors Tensors { get; init; }

    /// <summary>
    /// The layer's calibration inputs (the residual stream entering it: in sequential mode the output of the already
    /// quantized layers before it) and the layer's forward over them; null when the run has no calibration data.
    /// </summary>
    public LayerCalibrationForward? Calibration { get; init; }

    /// <summary>Receives one-line notes (chosen scales, errors) for the log; may be null.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Cancels.</summary>
    public CancellationToken CancellationToken { get; init; }
}
