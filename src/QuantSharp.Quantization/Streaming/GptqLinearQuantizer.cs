// GPTQ onto its integer grid as a pluggable per-linear-layer quantizer of the layer-streaming runner.
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// <see cref="GptqQuantizer"/> behind <see cref="ILinearQuantizer"/>: needs each linear layer's
/// Hessian 2/n Σ x xᵀ from the calibration pass. Scales are rounded to fp16 before the levels are
/// chosen (<see cref="GptqOptions.Fp16Scales"/>), so a Hugging Face GPTQ export dequantizes to
/// exactly the weights the run fed forward.
/// </summary>
public sealed class GptqLinearQuantizer(GptqOptions options, Action<string>? warn = null) : ILinearQuantizer
{
    /// <summary>The GPTQ settings (with fp16 scales).</summary>
    public GptqOptions Options { get; } = Validated(options with { Fp16Scales = true });

    /// <inheritdoc/>
    public string Name => "gptq";

    /// <inheritdoc/>
    public StatisticsNeeds Needs => StatisticsNeeds.Hessian;

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => new RtnLinearQuantizer(Options with { ActOrder = false });

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        var stats = input.Statistics ?? throw new InvalidOperationException($"{input.Name}: GPTQ needs calibration data (--calib FILE)");
        // GPTQ works in the Hessian's storage; the last layer of a group takes the accumulator's array over.
        var h = input.LastUseOfStatistics ? stats.TakeHessian() : stats.Hessian();
        var result = GptqQuantizer.QuantizeInPlace(input.Weight, input.Rows, input.Cols, h, Options, warn is null ? null : m => warn($"{input.Name}: {m}"));
        return new QuantizedLinear { Dequantized = result.Dequantized, Grid = result, FactorTime = result.FactorTime, SweepTime = result.SweepTime };
    }

    private static GptqOptions Validated(GptqOptions o) { o.Validate(); return o; }
}
