// Norm folding, the residual rotation (R1) and the per-head value/output rotation (R2) of one decoder layer.
using QuantSharp.Models.Architectures;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// The per-layer step of QuaRot/SpinQuant-style rotations, keeping the layer's function on a rotated residual
/// stream (x' = x·Q₁):
/// <list type="number">
/// <item>fold the attention and MLP norms' γ into their readers (<see cref="RmsNormFolding"/>);</item>
/// <item>R1: readers of the stream W' = W·Q₁ (q/k/v, gate/up, router, every expert's gate/up); writers into it
/// W' = Q₁ᵀ·W (o_proj, down_proj, every expert's down);</item>
/// <item>R2 (optional): the values of each KV head are rotated by Q₂ of order head_dim — v_proj's rows of a head
/// W' = Q₂ᵀ·W, its bias b' = b·Q₂ — and o_proj's columns of each query head W' = W·Q₂ undo it after attention
/// (softmax weights mix values linearly, so the rotation passes through; with GQA every head shares Q₂).</item>
/// </list>
/// q/k (and Qwen3's q/k norms, RoPE, the attention scores) are untouched: only their inputs rotate.
/// </summary>
public static class LayerRotation
{
    /// <summary>Applies folding, R1 with <paramref name="residual"/> and, when given, R2 with <paramref name="head"/> to <paramref name="layer"/>.</summary>
    public static void Apply(DecoderLayerTensors layer, OrthogonalRotation residual, OrthogonalRotation? head, int threads)
    {
        RmsNormFolding.Fold(layer.AttentionNorm, layer.AttentionReaders);
        RmsNormFolding.Fold(layer.FfnNorm, layer.MlpReaders);
        foreach (var w in layer.AttentionReaders.Concat(layer.MlpReaders)) MatrixRotation.RotateRows(w, residual, threads);
        foreach (var w in layer.ResidualWriters) MatrixRotation.RotateColumns(w, residual, threads);
        if (head is null) return;
        MatrixRotation.RotateColumns(layer.V, head, threads);
        if (layer.Vectors.TryGetValue(TensorRole.VBias, out var vBias)) MatrixRotation.RotateVector(layer.V.Name + " bias", vBias, head);
        MatrixRotation.RotateRows(layer.O, head, threads);
    }
}
