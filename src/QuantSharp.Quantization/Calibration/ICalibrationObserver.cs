// Hook through which calibration activations reach collectors beyond the quantizer's own statistics.
using QuantSharp.Models.Architectures;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// Receives the activations of the calibration forward, chunk by chunk, in a fixed order (for later
/// methods: importance matrices, activation-aware scaling, KV-cache statistics). Spans are only valid
/// during the call. In sequential mode the activations are those of the partly quantized model,
/// exactly what the runner's own statistics see.
/// </summary>
public interface ICalibrationObserver
{
    /// <summary>Input rows [rows, width] of the linear layers of <paramref name="group"/> in decoder layer <paramref name="layer"/>.</summary>
    void ObserveLinearInput(int layer, LinearInputGroup group, ReadOnlySpan<float> x, int rows, int width);

    /// <summary>
    /// Input rows of one expert's linears in decoder layer <paramref name="layer"/> (a mixture of experts): the tokens
    /// routed to <paramref name="expert"/> only; <paramref name="group"/> is MlpInput (gate/up) or MlpHidden (down).
    /// Experts are observed in batches, in expert order within each statistics pass.
    /// </summary>
    void ObserveExpertInput(int layer, int expert, LinearInputGroup group, ReadOnlySpan<float> x, int rows, int width) { }

    /// <summary>Keys (after RoPE) and values [tokens, kvDim] of decoder layer <paramref name="layer"/>.</summary>
    void ObserveKeyValue(int layer, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int tokens, int kvDim);
}
