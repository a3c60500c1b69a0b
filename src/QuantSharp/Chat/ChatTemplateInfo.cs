// Finds a model's chat template and special tokens: tokenizer_config.json (chat_template, bos/eos) or GGUF metadata.
using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Llama;
using QuantSharp.Templates;

namespace QuantSharp;

/// <summary>A model's chat template (parsed once) and the bos/eos strings templates refer to.</summary>
internal sealed class ChatTemplateInfo
{
    private ChatTemplateInfo(string template, string origin, string? bos, string? eos)
    {
        Template = template;
        Origin = origin;
        BosToken = bos;
        EosToken = eos;
        try { Compiled = new JinjaTemplate(template); }
        catch (JinjaException ex) { throw new InvalidDataException($"{origin}: chat template: {ex.Message}", ex); }
    }

    public string Template { get; }
    public string Origin { get; }
    public string? BosToken { get; }
    public string? EosToken { get; }
    public JinjaTemplate Compiled { get; }

    /// <summary>From text given by the caller (bos/eos from the tokenizer).</summary>
    public static ChatTemplateInfo FromText(string template, LlamaModel model) =>
        new(template, "the given chat template", TokenText(model, model.Tokenizer?.BosId), TokenText(model, model.Tokenizer?.EosId));

    /// <summary>The template of the model at <paramref name="path"/>, or null when it ships none.</summary>
    public static ChatTemplateInfo? Find(LlamaModel model, string path)
    {
        if (model.Source is GgufFile gguf)
        {
            if (!gguf.Metadata.TryGet<string>(LlamaGgufNames.ChatTemplate, out var text)) return null;
            return new ChatTemplateInfo(text, $"{gguf.Origin}: {LlamaGgufNames.ChatTemplate}", TokenText(model, model.Tokenizer?.BosId), TokenText(model, model.Tokenizer?.EosId));
        }
        string folder = Directory.Exists(path) ? path : Path.GetDirectoryName(path) ?? ".";
        string config = Path.Combine(folder, "tokenizer_config.json");
        string? template = null, bos = null, eos = null, origin = config;
        if (File.Exists(config))
        {
            using var doc = StrictJson.ParseFile(config);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{config}: not a JSON object");
            if (root.TryGetProperty("chat_template", out var ct)) template = ReadTemplate(ct, config);
            bos = SpecialToken(root, "bos_token", config);
            eos = SpecialToken(root, "eos_token", config);
        }
        // transformers ≥ 4.43 may keep the template in its own file.
        string jinja = Path.Combine(folder, "chat_template.jinja");
        if (template is null && File.Exists(jinja)) { template = File.ReadAllText(jinja); origin = jinja; }
        if (template is null) return null;
        return new ChatTemplateInfo(template, origin, bos ?? TokenText(model, model.Tokenizer?.BosId), eos ?? TokenText(model, model.Tokenizer?.EosId));
    }

    private static string? ReadTemplate(JsonElement ct, string file)
    {
        switch (ct.ValueKind)
        {
            case JsonValueKind.String: return ct.GetString();
            case JsonValueKind.Null: return null;
            case JsonValueKind.Array:
                // Several named templates: transformers uses "default" for chat.
                foreach (var item in ct.EnumerateArray())
                    if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default"
                        && item.TryGetProperty("template", out var t) && t.ValueKind == JsonValueKind.String)
                        return t.GetString();
                throw new InvalidDataException($"{file}: chat_template is a list without a \"default\" template");
            default: throw new InvalidDataException($"{file}: chat_template must be a string or a list of {{name, template}}, found {ct.ValueKind}");
        }
    }

    private static string? SpecialToken(JsonElement root, string key, string file)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null => null,
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new InvalidDataException($"{file}: {key} must be a string or an object with \"content\""),
        };
    }

    private static string? TokenText(LlamaModel model, int? id) => id is { } i && model.Tokenizer is { } t ? t.Decode([i]) : null;
}
