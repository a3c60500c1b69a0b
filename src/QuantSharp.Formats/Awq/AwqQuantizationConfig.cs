// The quantization_config block of a Hugging Face AWQ checkpoint's config.json (AutoAWQ / transformers' AwqConfig).
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Formats.Gptq;

namespace QuantSharp.Formats.Awq;

/// <summary>
/// AWQ settings as AutoAWQ and transformers store them under "quantization_config" in config.json (quant_method "awq").
/// Only the layout this project writes and reads is accepted: version "gemm" (AutoAWQ's WQLinear_GEMM, see
/// <see cref="AwqPacking"/>), 4 bits, with zero points, backend autoawq. Every other variant (gemv, gemv_fast, exllama,
/// marlin, ipex; other bit widths; no zero point; the llm-awq backend) packs differently and is refused naming the field.
/// </summary>
public sealed record AwqQuantizationConfig
{
    /// <summary>Bits per weight: always 4 (<see cref="AwqPacking.Bits"/>).</summary>
    public int Bits { get; init; } = AwqPacking.Bits;

    /// <summary>Input columns per group; −1 = one group per row.</summary>
    public required int GroupSize { get; init; }

    /// <summary>
    /// Modules left as plain linears (their ".weight" is stored unpacked), as listed in the file; null when none.
    /// Informational: the loader sees which modules are packed from the tensors themselves.
    /// </summary>
    public IReadOnlyList<string>? ModulesToNotConvert { get; init; }

    /// <summary>The JSON object written under "quantization_config".</summary>
    public JsonObject ToJson() => new()
    {
        ["quant_method"] = "awq",
        ["version"] = "gemm",
        ["bits"] = Bits,
        ["group_size"] = GroupSize,
        ["zero_point"] = true,
        ["modules_to_not_convert"] = ModulesToNotConvert is { } m ? new JsonArray(m.Select(x => (JsonNode)JsonValue.Create(x)!).ToArray()) : null,
    };

    /// <summary>
    /// Reads quantization_config from the config.json in <paramref name="folder"/>; null when the model is not an AWQ
    /// checkpoint (no config, no quantization_config, or another quant_method). Throws naming the file and field for
    /// AWQ settings this project cannot load.
    /// </summary>
    public static AwqQuantizationConfig? TryLoad(string folder)
    {
        if (GptqQuantizationConfig.OpenQuantizationConfig(folder) is not var (doc, q, path, where, method)) return null;
        using var _ = doc;
        if (!method.Equals("awq", StringComparison.OrdinalIgnoreCase)) return null;

        // AutoAWQ writes "GEMM", transformers lower-cases it; both mean the same layout.
        string version = GptqQuantizationConfig.Field(q, "version", where, JsonValueKind.String, e => e.GetString()!) ?? "gemm";
        if (!version.Equals("gemm", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException($"{where}.version is '{version}'; only 'gemm' (AutoAWQ's WQLinear_GEMM packing) is supported, gemv/gemv_fast/exllama/marlin/ipex pack differently");
        string backend = GptqQuantizationConfig.Field(q, "backend", where, JsonValueKind.String, e => e.GetString()!) ?? "autoawq";
        if (!backend.Equals("autoawq", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException($"{where}.backend is '{backend}'; only 'autoawq' checkpoints are supported");
        int bits = GptqQuantizationConfig.Int(q, "bits", where) ?? GptqQuantizationConfig.Int(q, "w_bit", where)
            ?? throw new InvalidDataException($"{where}.bits is missing");
        if (bits != AwqPacking.Bits) throw new NotSupportedException($"{where}.bits is {bits}; AWQ's GEMM layout packs 4 bits only");
        int groupSize = GptqQuantizationConfig.Int(q, "group_size", where) ?? GptqQuantizationConfig.Int(q, "q_group_size", where) ?? 128;
        if (groupSize is 0 or < -1) throw new InvalidDataException($"{where}.group_size is {groupSize}; expected -1 or a positive column count");
        bool zeroPoint = GptqQuantizationConfig.Bool(q, "zero_point", where) ?? true;
        if (!zeroPoint) throw new NotSupportedException($"{where}.zero_point is false; AWQ's GEMM layout stores zero points (qzeros), a checkpoint without them is not supported");

        List<string>? skip = null;
        if (q.TryGetProperty("modules_to_not_convert", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{where}.modules_to_not_convert must be a list of module names or null, got {GptqQuantizationConfig.Short(m)}");
            skip = [];
            foreach (var e in m.EnumerateArray())
                skip.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new InvalidDataException($"{where}.modules_to_not_convert holds {GptqQuantizationConfig.Short(e)}, expected module names"));
        }
        return new AwqQuantizationConfig { Bits = bits, GroupSize = groupSize, ModulesToNotConvert = skip };
    }
}
