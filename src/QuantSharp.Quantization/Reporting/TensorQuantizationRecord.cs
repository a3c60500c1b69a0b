// What a quantization run measured on one tensor: its type, size in bits, weight error, output error and time.
namespace QuantSharp.Quantization.Reporting;

/// <summary>
/// One quantized weight matrix as a quantization report lists it. Errors are relative Frobenius norms rounded to six
/// significant digits (<see cref="QuantizationErrors.Rounded"/>), so that a log line and the report print the same value.
/// </summary>
public sealed record TensorQuantizationRecord
{
    /// <summary>The tensor's name: the source name for a linear of a layer-streaming run, the GGUF name for a tensor a GGUF encoder wrote.</summary>
    public required string Name { get; init; }

    /// <summary>Role in llama.cpp's words: <c>attn_q</c>, <c>attn_k</c>, <c>attn_v</c>, <c>attn_output</c>, <c>ffn_gate</c>, <c>ffn_up</c>, <c>ffn_down</c>, <c>token_embd</c>, <c>output</c>, …</summary>
    public required string Kind { get; init; }

    /// <summary>Decoder layer, or null for a model-level tensor (embedding, classifier).</summary>
    public int? Layer { get; init; }

    /// <summary>The expert of a mixture-of-experts weight, or null.</summary>
    public int? Expert { get; init; }

    /// <summary>The stored form: a GGUF type name (<c>Q4_K</c>, <c>F16</c>) or an integer grid (<c>int4 g128</c>).</summary>
    public required string Type { get; init; }

    /// <summary>Output features.</summary>
    public required int Rows { get; init; }

    /// <summary>Input features.</summary>
    public required int Columns { get; init; }

    /// <summary>Stored bits per weight, scales and zero points included (see docs/quantization-report.md).</summary>
    public required double BitsPerWeight { get; init; }

    /// <summary>‖W − Ŵ‖_F / ‖W‖_F of the weights the quantizer received and what it stored.</summary>
    public required double WeightError { get; init; }

    /// <summary>
    /// ‖X(W − Ŵ)ᵀ‖_F / ‖XWᵀ‖_F over the calibration inputs X this linear received in the run, or null where no
    /// calibration ran (a named mix, a run without --calib, a model-level tensor).
    /// </summary>
    public double? OutputError { get; init; }

    /// <summary>Seconds spent quantizing (or encoding) this tensor.</summary>
    public required double Seconds { get; init; }

    /// <summary>The one-line form a run logs, with the errors printed exactly as stored (round-trip format).</summary>
    public string LogLine()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        string name = Expert is { } e && !Name.Contains($".{e}.", StringComparison.Ordinal) ? $"{Name}[expert {e}]" : Name;
        return string.Create(ci, $"tensor {name} ({Kind}{(Layer is { } l ? $", layer {l}" : "")}): {Type}, {BitsPerWeight:F3} bpw, weight error {WeightError:R}")
            + (OutputError is { } o ? string.Create(ci, $", output error {o:R}") : "")
            + string.Create(ci, $", {Seconds * 1000:F1} ms");
    }
}
