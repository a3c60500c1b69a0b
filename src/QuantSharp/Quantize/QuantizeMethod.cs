// The calibrated (layer-streaming) quantization methods a QuantizeRequest can ask for.
namespace QuantSharp;

/// <summary>Layer-streaming quantization method (<c>quantize --method</c>).</summary>
public enum QuantizeMethod
{
    /// <summary>Round-to-nearest on GPTQ's grid (hf-gptq) or ggml's reference block quantizers (gguf:TYPE).</summary>
    Rtn,
    /// <summary>GPTQ's error-feedback rounding; needs calibration text.</summary>
    Gptq,
    /// <summary>AWQ's activation-aware scaling and clipping (a layer transform), then round-to-nearest (<c>awq</c>, <c>awq+rtn</c>); needs calibration text.</summary>
    Awq,
    /// <summary>AWQ's scaling and clipping, then GPTQ (<c>awq+gptq</c>); needs calibration text.</summary>
    AwqGptq,
    /// <summary>
    /// No rounding: the weights as the transforms leave them, in the float type of <c>--format gguf:F32|F16|BF16</c>.
    /// Only after a rotation (<see cref="QuantizeRequest.Rotate"/>; <c>--method rotate</c>): a rotated float GGUF that
    /// llama.cpp's own llama-quantize (or <c>quantize --type</c>) can then quantize.
    /// </summary>
    NoRounding,
}
