// The quantization_config block of a Hugging Face GPTQ checkpoint's config.json.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QuantSharp.Formats.Gptq;

/// <summary>
/// GPTQ settings as transformers/optimum/AutoGPTQ/GPTQModel store them under "quantization_config"
/// in config.json (quant_method "gptq").
/// </summary>
public sealed record GptqQuantizationConfig
{
    /// <summary>Bits per weight (2, 3, 4, 8).</summary>
    public required int Bits { get; init; }
    /// <summary>Group size; −1 = one group per row.</summary>
    public required int GroupSize { get; init; }
    /// <summary>Act-order ("desc_act").</summary>
    public bool DescAct { get; init; }
    /// <summary>Symmetric grid.</summary>
    public bool Sym { get; init; } = true;
    /// <summary>Quantized sub-layer by sub-layer inside each block.</summary>
    public bool TrueSequential { get; init; } = true;
    /// <summary>Static groups with act-order.</summary>
    public bool StaticGroups { get; init; }
    /// <summary>Dampening fraction.</summary>
    public double DampPercent { get; init; } = 0.01;
    /// <summary>"gptq" (v1, zeros stored minus one) or "gptq_v2".</summary>
    public string CheckpointFormat { get; init; } = "gptq";

    /// <summary>Whether zero points are stored minus one.</summary>
    public bool ZerosMinusOne => CheckpointFormat == "gptq";

    /// <summary>
    /// The packed modules of one decoder block, relative to it, in true-sequential groups (transformers/optimum's
    /// modules_in_block_to_quantize): written for a mixture of experts, whose router is a linear left in fp16 that
    /// loaders must not replace by a quantized one. Null: every linear of the block is packed.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>>? ModulesInBlockToQuantize { get; init; }

    /// <summary>The JSON object written under "quantization_config".</summary>
    public JsonObject ToJson()
    {
        var o = Fields();
        if (ModulesInBlockToQuantize is { } groups)
            o["modules_in_block_to_quantize"] = new JsonArray(groups.Select(g => (JsonNode)new JsonArray(g.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray())).ToArray());
        return o;
    }

    private JsonObject Fields() => new()
    {
        ["bits"] = Bits,
        ["group_size"] = GroupSize,
        ["desc_act"] = DescAct,
        ["sym"] = Sym,
        ["true_sequential"] = TrueSequential,
        ["static_groups"] = StaticGroups,
        ["damp_percent"] = DampPercent,
        ["quant_method"] = "gptq",
        ["checkpoint_format"] = CheckpointFormat,
    };

    /// <summary>
    /// The quantization_config object of <paramref name="folder"/>/config.json with the file's path, the prefix errors
    /// name and its quant_method ("" when absent); null when there is no config or no quantization_config. The caller
    /// disposes the document. Strict parsing: duplicate keys ("bits" twice: which one does the checkpoint mean?),
    /// invalid UTF-8 and wrong kinds all become InvalidDataException naming the file and the field.
    /// </summary>
    internal static (JsonDocument Doc, JsonElement Config, string Path, string Where, string Method)? OpenQuantizationConfig(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return null;
        var doc = StrictJson.ParseFile(path);
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: config must be a JSON object");
            if (!doc.RootElement.TryGetProperty("quantization_config", out var q) || q.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                return null;
            }
            string where = $"{path}: quantization_config";
            return (doc, q, path, where, Field(q, "quant_method", where, JsonValueKind.String, e => e.GetString()!) ?? "");
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads quantization_config from the config.json in <paramref name="folder"/>; null when the
    /// model is not GPTQ-quantized. Throws naming the file for settings this project cannot load.
    /// </summary>
    public static GptqQuantizationConfig? TryLoad(string folder)
    {
        if (OpenQuantizationConfig(folder) is not var (doc, q, path, where, method)) return null;
        using var _ = doc;
        // AWQ checkpoints are read by AwqQuantizationConfig (LlamaModel asks it first).
        if (method != "gptq") throw new NotSupportedException($"{path}: quant_method '{method}' is not supported (gptq, awq)");
        var c = new GptqQuantizationConfig
        {
            Bits = Int(q, "bits", where) ?? throw new InvalidDataException($"{where}.bits is missing"),
            GroupSize = Int(q, "group_size", where) ?? -1,
            DescAct = Bool(q, "desc_act", where) ?? false,
            Sym = Bool(q, "sym", where) ?? true,
            TrueSequential = Bool(q, "true_sequential", where) ?? true,
            StaticGroups = Bool(q, "static_groups", where) ?? false,
            DampPercent = Field(q, "damp_percent", where, JsonValueKind.Number, e => e.GetDouble()) ?? 0.01,
            CheckpointFormat = Field(q, "checkpoint_format", where, JsonValueKind.String, e => e.GetString()!) ?? "gptq",
        };
        if (!GptqPacking.SupportedBits(c.Bits)) throw new NotSupportedException($"{path}: GPTQ bits {c.Bits} not supported (2, 3, 4, 8)");
        if (c.GroupSize is 0 or < -1) throw new InvalidDataException($"{where}.group_size is {c.GroupSize}; expected -1 or a positive column count");
        if (c.CheckpointFormat is not ("gptq" or "gptq_v2"))
            throw new NotSupportedException($"{path}: checkpoint_format '{c.CheckpointFormat}' is not supported (gptq, gptq_v2)");
        return c;
    }

    // A field of the expected JSON kind, null when absent or JSON null; any other kind is an error naming the field.
    internal static T? Field<T>(JsonElement obj, string key, string where, JsonValueKind kind, Func<JsonElement, T> read) where T : struct
        => obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind == kind ? read(v) : throw new InvalidDataException($"{where}.{key} must be a {kind.ToString().ToLowerInvariant()}, got {Short(v)}"))
            : null;

    internal static string? Field(JsonElement obj, string key, string where, JsonValueKind kind, Func<JsonElement, string> read)
        => obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind == kind ? read(v) : throw new InvalidDataException($"{where}.{key} must be a {kind.ToString().ToLowerInvariant()}, got {Short(v)}"))
            : null;

    internal static int? Int(JsonElement obj, string key, string where)
        => obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new InvalidDataException($"{where}.{key} must be an integer, got {Short(v)}"))
            : null;

    internal static bool? Bool(JsonElement obj, string key, string where)
        => obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InvalidDataException($"{where}.{key} must be true or false, got {Short(v)}"))
            : null;

    internal static string Short(JsonElement v)
    {
        string raw = v.GetRawText();
        return raw.Length <= 100 ? raw : raw[..100] + "…";
    }
}
