// The layer transform of a streaming rotation: folds one decoder layer's norms and applies R1 (and R2) as the run reads it.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// <see cref="LayerwiseRotation.LayerTransform"/>: <see cref="LayerRotation.Apply"/> on the fp32 copy of the layer the
/// run makes, so that the rotated layer exists only while the run works on it. It belongs to the model
/// <see cref="LayerwiseRotation.Open"/> returned (whose embedding and head are already rotated) and refuses any other.
/// </summary>
internal sealed class RotationLayerTransform(LayerwiseRotation owner) : ILayerTransform
{
    /// <inheritdoc/>
    public string Name => "rotation";

    /// <inheritdoc/>
    public bool NeedsCalibration => false;

    /// <inheritdoc/>
    public void ThrowIfUnsupported(LlamaModel model)
    {
        // Applied to another model, the layers would be rotated against an unrotated embedding: a wrong model, silently.
        if (!owner.Opened(model))
            throw new NotSupportedException($"{model.Origin}: the rotation's layer transform applies only to the model its LayerwiseRotation.Open returned (whose embedding and head it rotated)");
    }

    /// <inheritdoc/>
    public void Apply(LayerTransformContext context) => owner.RotateLayer(context.Tensors);
}
