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
}
