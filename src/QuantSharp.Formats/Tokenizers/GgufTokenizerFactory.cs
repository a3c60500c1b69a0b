// Rebuilds a working tokenizer from the vocabulary a GGUF file stores (tokenizer.ggml.*).
using System.Text.Json;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Turns <see cref="TokenizerData"/> read from a GGUF back into an <see cref="ITextTokenizer"/>:
/// "gpt2" vocabularies become a byte-level BPE (the tokenizer.json they came from is re-synthesised
/// and parsed by the same code; no NFC, as llama.cpp applies none), "llama" (SentencePiece)
/// vocabularies become <see cref="GgufSpmTokenizer"/>, llama.cpp's score-driven SPM tokenizer.
/// </summary>
public static class GgufTokenizerFactory
{
    /// <summary>Builds the tokenizer; <paramref name="origin"/> (the GGUF path) names it in errors.</summary>
    public static ITextTokenizer Create(TokenizerData data, string origin)
    {
        return data.Model switch
        {
            "gpt2" => ByteLevel(data, origin),
            "llama" => GgufSpmTokenizer.Create(data, origin),
            _ => throw new NotSupportedException($"{origin}: tokenizer.ggml.model '{data.Model}' is not supported (gpt2, llama)"),
        };
    }

    private static ITextTokenizer ByteLevel(TokenizerData data, string origin)
    {
        if (data.Merges is null) throw new InvalidDataException($"{origin}: a gpt2 tokenizer needs tokenizer.ggml.merges");
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartArray("added_tokens");
            for (int i = 0; i < data.Tokens.Count; i++)
            {
                var type = i < data.TokenTypes.Count ? data.TokenTypes[i] : GgufTokenType.Normal;
                // llama.cpp cuts tokens with these texts out of the text whatever their type says.
                bool control = type == GgufTokenType.Control || LlamaCppControlTexts.Contains(data.Tokens[i]);
                if (!control && type != GgufTokenType.UserDefined) continue;
                w.WriteStartObject();
                w.WriteNumber("id", i);
                w.WriteString("content", data.Tokens[i]);
                w.WriteBoolean("special", control);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WritePropertyName("pre_tokenizer");
            string? pattern = data.Pre switch
            {
                null or "gpt-2" => null,
                "llama-bpe" or "llama3" => RegexPreTokenizer.Llama3Pattern,
                "qwen2" => RegexPreTokenizer.Qwen2Pattern,
                _ => throw new NotSupportedException($"{origin}: tokenizer.ggml.pre '{data.Pre}' is not supported (gpt-2, llama-bpe, qwen2)"),
            };
            if (pattern is null)
            {
                w.WriteStartObject();
                w.WriteString("type", "ByteLevel");
                w.WriteBoolean("add_prefix_space", false);
                w.WriteBoolean("use_regex", true);
                w.WriteEndObject();
            }
            else
            {
                w.WriteStartObject();
                w.WriteString("type", "Sequence");
                w.WriteStartArray("pretokenizers");
                w.WriteStartObject();
                w.WriteString("type", "Split");
                w.WriteStartObject("pattern");
                w.WriteString("Regex", pattern);
                w.WriteEndObject();
                w.WriteString("behavior", "Isolated");
                w.WriteBoolean("invert", false);
                w.WriteEndObject();
                w.WriteStartObject();
                w.WriteString("type", "ByteLevel");
                w.WriteBoolean("add_prefix_space", false);
                w.WriteBoolean("use_regex", false);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            // llama.cpp skips the merges for a pre-token that is itself a token for the Llama-3 family only.
            w.WriteBoolean("ignore_merges", data.Pre is "llama-bpe" or "llama3");
            w.WriteStartObject("vocab");
            for (int i = 0; i < data.Tokens.Count; i++) w.WriteNumber(data.Tokens[i], i);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var m in data.Merges) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        var json = HfTokenizerJson.Parse(origin, ms.ToArray());
        json.SetSpecialTokens(
            data.BosId is { } b && b < data.Tokens.Count ? data.Tokens[b] : null,
            data.EosId is { } e && e < data.Tokens.Count ? data.Tokens[e] : null,
            data.AddBos);
        return ByteLevelBpeTokenizer.FromJson(json);
    }
}
