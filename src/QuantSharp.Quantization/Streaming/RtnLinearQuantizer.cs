// Round-to-nearest onto the GPTQ integer grid as a pluggable per-linear-layer quantizer.
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// <see cref="RtnGridQuantizer"/> behind <see cref="ILinearQuantizer"/>: the baseline of the GPTQ
/// quality check. Needs no statistics, except the mean squares (Hessian diagonal up to a factor) for act-order.
/// </summary>
public sealed class RtnLinearQuantizer(GptqOptions options) : ILinearQuantizer
{
    /// <summary>The grid settings.</summary>
    public GptqOptions Options { get; } = Validated(options);

    /// <inheritdoc/>
    public string Name => "rtn";

    /// <inheritdoc/>
    public StatisticsNeeds Needs => Options.ActOrder && !Options.StaticGroups ? StatisticsNeeds.MeanSquares : StatisticsNeeds.None;

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => Needs == StatisticsNeeds.None ? this : new RtnLinearQuantizer(Options with { ActOrder = false });

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        var grid = RtnGridQuantizer.Quantize(input.Weight, input.Rows, input.Cols, Options, Importance(input));
        return new QuantizedLinear { Dequantized = grid.Dequantized, Grid = grid };
    }

    /// <inheritdoc/>
    public void RoundTrip(LinearQuantizationInput input, float[] dequantized)
        => RtnGridQuantizer.RoundTrip(input.Weight, input.Rows, input.Cols, Options, dequantized, Importance(input));

    private double[]? Importance(LinearQuantizationInput input)
        => Options.ActOrder && !Options.StaticGroups
            ? (input.Statistics ?? throw new InvalidOperationException($"{input.Name}: act-order needs calibration statistics (pass calibration data)")).MeanSquares()
            : null;

    private static GptqOptions Validated(GptqOptions o) { o.Validate(); return o; }
}
