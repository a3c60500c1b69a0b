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

    /// <summary>The JSON object written under "quantization_config".</summary>
    public JsonObject ToJson() => new()
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
    /// Reads quantization_config from the config.json in <paramref name="folder"/>; null when the
    /// model is not GPTQ-quantized. Throws naming the file for settings this project cannot load.
    /// </summary>
    public static GptqQuantizationConfig? TryLoad(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return null;
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex); }
        if (root?["quantization_config"] is not JsonObject q) return null;
        string method = q["quant_method"]?.GetValue<string>() ?? "";
        if (method != "gptq") throw new NotSupportedException($"{path}: quant_method '{method}' is not supported (only gptq)");
        try
        {
            var c = new GptqQuantizationConfig
            {
                Bits = q["bits"]?.GetValue<int>() ?? throw new InvalidDataException($"{path}: quantization_config.bits is missing"),
                GroupSize = q["group_size"]?.GetValue<int>() ?? -1,
                DescAct = q["desc_act"]?.GetValue<bool>() ?? false,
                Sym = q["sym"]?.GetValue<bool>() ?? true,
                TrueSequential = q["true_sequential"]?.GetValue<bool>() ?? true,
                StaticGroups = q["static_groups"]?.GetValue<bool>() ?? false,
                DampPercent = q["damp_percent"]?.GetValue<double>() ?? 0.01,
                CheckpointFormat = q["checkpoint_format"]?.GetValue<string>() ?? "gptq",
            };
            if (!GptqPacking.SupportedBits(c.Bits)) throw new NotSupportedException($"{path}: GPTQ bits {c.Bits} not supported (2, 3, 4, 8)");
            if (c.CheckpointFormat is not ("gptq" or "gptq_v2"))
                throw new NotSupportedException($"{path}: checkpoint_format '{c.CheckpointFormat}' is not supported (gptq, gptq_v2)");
            return c;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: quantization_config has a value of the wrong type: {ex.Message}", ex);
        }
    }
}
