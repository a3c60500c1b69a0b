// Hook through which calibration activations reach collectors beyond the quantizer's own statistics.
namespace QuantSharp.Quantization.Calibration;

/// <summary>Which activations a group of linear layers reads (layers of a group share their input).</summary>
public enum LinearInputGroup
{
    /// <summary>RMSNorm output before attention: input of q_proj, k_proj, v_proj.</summary>
    AttentionInput,
    /// <summary>Attention result: input of o_proj.</summary>
    AttentionOutput,
    /// <summary>RMSNorm output before the MLP: input of gate_proj and up_proj.</summary>
    MlpInput,
    /// <summary>silu(gate)·up: input of down_proj.</summary>
    MlpHidden,
}

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

    /// <summary>Keys (after RoPE) and values [tokens, kvDim] of decoder layer <paramref name="layer"/>.</summary>
    void ObserveKeyValue(int layer, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int tokens, int kvDim);
}
