// A transformed decoder layer (DecoderLayerTensors) seen as the LlamaLayerWeights the forward and the quantizer read.
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// Pins every matrix of a <see cref="DecoderLayerTensors"/> and exposes the layer as <see cref="LlamaLayerWeights"/>
/// (F32 views over the arrays, the norms and small vectors themselves), so that <c>DecoderLayerForward</c> and the
/// layer-streaming runner work on the transformed layer exactly as on one read from a file. A vector the tensors do
/// not hold comes from the layer passed as the original. The views are valid until <see cref="Dispose"/>.
/// </summary>
public sealed class PinnedLayerWeights : IDisposable
{
    private readonly List<PinnedMatrix> _pins = [];

    /// <summary>Pins <paramref name="tensors"/>; <paramref name="original"/> supplies what the tensors do not hold.</summary>
    public PinnedLayerWeights(DecoderLayerTensors tensors, LlamaLayerWeights? original = null)
    {
        Tensors = tensors;
        TensorView Pin(FloatMatrix m)
        {
            var p = new PinnedMatrix(m.Name, m.Values, m.Rows, m.Cols, pinInPlace: true);
            _pins.Add(p);
            return p.View;
        }
        float[]? V(TensorRole role) => tensors.Vectors.GetValueOrDefault(role);
        Weights = new LlamaLayerWeights
        {
            AttentionNorm = tensors.AttentionNorm,
            FfnNorm = tensors.FfnNorm,
            Wq = Pin(tensors.Q),
            Wk = Pin(tensors.K),
            Wv = Pin(tensors.V),
            Wo = Pin(tensors.O),
            WGate = tensors.Gate is { } g ? Pin(g) : default,
            WUp = tensors.Up is { } u ? Pin(u) : default,
            WDown = tensors.Down is { } d ? Pin(d) : default,
            Experts = tensors.Router is { } r ? new ExpertWeights
            {
                Router = Pin(r),
                Gate = [.. tensors.ExpertGate.Select(Pin)],
                Up = [.. tensors.ExpertUp.Select(Pin)],
                Down = [.. tensors.ExpertDown.Select(Pin)],
            } : null,
            QBias = V(TensorRole.QBias),
            KBias = V(TensorRole.KBias),
            VBias = V(TensorRole.VBias),
            QNorm = V(TensorRole.QNorm),
            KNorm = V(TensorRole.KNorm),
            AttentionPostNorm = V(TensorRole.AttentionPostNorm) ?? original?.AttentionPostNorm,
            FfnPostNorm = V(TensorRole.FfnPostNorm) ?? original?.FfnPostNorm,
        };
    }

    /// <summary>The tensors behind the views.</summary>
    public DecoderLayerTensors Tensors { get; }

    /// <summary>The layer as the forward reads it.</summary>
    public LlamaLayerWeights Weights { get; }

    /// <summary>Unpins the matrices (the views become invalid).</summary>
    public void Dispose()
    {
        foreach (var p in _pins) p.Dispose();
        _pins.Clear();
    }
}
