// GPTQ onto a GGUF block type as a pluggable per-linear-layer quantizer of the layer-streaming runner.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// <see cref="GptqBlockQuantizer"/> behind <see cref="ILinearQuantizer"/>: ggml block bytes whose
/// rounding carries GPTQ's error feedback. A tensor whose rows do not fit the target's blocks gets
/// llama.cpp's fallback type (<see cref="LlamaCppMix.Fallback"/>); where GPTQ has no grid for that
/// fallback (Q5_0, Q5_1, F16) the tensor is rounded to nearest as llama-quantize would.
/// </summary>
public sealed class GptqGgufLinearQuantizer : ILinearQuantizer
{
    private readonly RtnGgufLinearQuantizer _fallback;
    private readonly Action<string>? _warn;

    /// <summary>Creates a quantizer into <paramref name="options"/>' block type.</summary>
    public GptqGgufLinearQuantizer(GptqBlockOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _fallback = new RtnGgufLinearQuantizer(options.Type);
        _warn = warn;
    }

    /// <summary>The settings.</summary>
    public GptqBlockOptions Options { get; }

    /// <inheritdoc/>
    public string Name => "gptq";

    /// <inheritdoc/>
    public StatisticsNeeds Needs => StatisticsNeeds.Hessian;

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => _fallback;

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        var ggml = LlamaCppMix.Fallback(GgmlTypeInfo.FromDType(Options.Type)!.Value, input.Cols, input.Name);
        var type = ggml == GgmlType.F16 ? DType.F16 : GgmlTypeInfo.Of(ggml).CoreType!.Value;
        if (!GptqBlockQuantizer.Supports(type)) return _fallback.Quantize(input);
        var stats = input.Statistics ?? throw new InvalidOperationException($"{input.Name}: GPTQ needs calibration data (--calib FILE)");
        // GPTQ works in the Hessian's storage; the last layer of a group takes the accumulator's array over.
        var h = input.LastUseOfStatistics ? stats.TakeHessian() : stats.Hessian();
        GptqBlockResult result;
        try
        {
            result = GptqBlockQuantizer.QuantizeInPlace(input.Weight, input.Rows, input.Cols, h, Options with { Type = type },
                _warn is null ? null : m => _warn($"{input.Name}: {m}"));
        }
        catch (InvalidDataException e)
        {
            // GPTQ does not know the tensor: name it here.
            throw new InvalidDataException($"layer {input.Layer} {input.Name}: {e.Message}", e);
        }
        return new QuantizedLinear
        {
            Dequantized = result.Dequantized, GgufType = type, GgufBytes = result.Data, FactorTime = result.FactorTime, SweepTime = result.SweepTime,
        };
    }
}
