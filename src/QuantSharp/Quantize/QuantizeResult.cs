// What a finished quantization run reports: the output, what was written, and where the time and memory went.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Reporting;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp;

/// <summary>The outcome of <see cref="QuantSharpModel.Quantize"/>.</summary>
public sealed record QuantizeResult
{
    /// <summary>Full path of the file or folder written.</summary>
    public required string OutputPath { get; init; }

    /// <summary>One line describing what was written, e.g. <c>Q4_K_M</c> or <c>hf-gptq 4-bit g128 sym, method gptq, sequential</c>.</summary>
    public required string Description { get; init; }

    /// <summary>Time to load (map) the model.</summary>
    public TimeSpan LoadTime { get; init; }

    /// <summary>
    /// A rotate+ method: time to rotate the embedding, head and final norm before the run (the decoder layers are rotated
    /// during the run: <see cref="StreamingRunReport.TransformTimes"/>); zero otherwise.
    /// </summary>
    public TimeSpan RotationTime { get; init; }

    /// <summary>Time to read and tokenize the calibration text.</summary>
    public TimeSpan CalibrationTime { get; init; }

    /// <summary>The calibration set used (segments, tokens, seed, files), or null without calibration.</summary>
    public string? CalibrationDescription { get; init; }

    /// <summary>Time of the whole run after loading, rotating the embedding and head, and tokenizing.</summary>
    public TimeSpan RunTime { get; init; }

    /// <summary>
    /// A method into a named mix: the part of <see cref="RunTime"/> spent calibrating and encoding the classifier (a
    /// forward of the whole model over the calibration set for its inputs' statistics), less the forced collections of
    /// <see cref="QuantizeRequest.MeasurePeakMemory"/> (counted in <see cref="StreamingRunReport.MeasurementCollections"/>);
    /// zero otherwise.
    /// </summary>
    public TimeSpan ClassifierTime { get; init; }

    /// <summary>
    /// The rotation fused into the output's weights, as the output records it (docs/rotations.md): a rotate+ method's, or
    /// the source model's when the input was already rotated; null when the weights are not rotated.
    /// </summary>
    public RotationRecord? Rotation { get; init; }

    /// <summary>The layer-streaming run's phase times and memory figures (null for a named mix; memory only with <see cref="QuantizeRequest.MeasurePeakMemory"/>).</summary>
    public StreamingRunReport? Report { get; init; }

    /// <summary>Full path of the report folder written (<see cref="QuantizeRequest.ReportDirectory"/>), or null.</summary>
    public string? ReportDirectory { get; init; }

    /// <summary>The measurements of every quantized tensor when a report was asked for (empty otherwise), in the order quantized.</summary>
    public IReadOnlyList<TensorQuantizationRecord> Tensors { get; init; } = [];

    /// <summary>
    /// With a report: the GGUF names of the 2-D weights the output stores in a float type without quantizing them (the
    /// report's <c>unquantized</c> list: every linear of <c>--method rotate --format gguf:F16</c>, llama.cpp's F16 fallback).
    /// </summary>
    public IReadOnlyList<string> UnquantizedTensors { get; init; } = [];
}
