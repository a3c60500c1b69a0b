// Writes small synthetic Llama-2-style tokenizer.json files for format unit tests (no such real file is available).
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// A SentencePiece-style BPE vocabulary in the layout HF writes for Llama-2: &lt;unk&gt;, &lt;s&gt;,
/// &lt;/s&gt;, the 256 byte tokens at 3..258, then "▁" and a handful of letters and merges that build
/// "▁hello" and "▁world".
/// </summary>
internal static class SyntheticTokenizerJson
{
    public static readonly string[] Pieces = ["▁", "h", "e", "l", "o", "w", "r", "d", "▁h", "ll", "▁he", "▁hell", "▁hello", "▁w", "or", "▁wor", "▁worl", "▁world"];

    // In rank order; each result is listed in Pieces.
    public static readonly string[] Merges = ["l l", "▁ h", "▁h e", "▁he ll", "▁hell o", "▁ w", "o r", "▁w or", "▁wor l", "▁worl d"];

    /// <summary>The id of a piece (259 + its index in <see cref="Pieces"/>).</summary>
    public static int Id(string piece) => 259 + Array.IndexOf(Pieces, piece);

    /// <summary>Builds the JSON. <paramref name="metaspace"/> selects the newer Metaspace layout instead of the legacy normalizer.</summary>
    public static string Build(bool byteFallback = true, bool metaspace = false)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        for (int i = 0; i < Pieces.Length; i++) vocab[Pieces[i]] = 259 + i;

        var merges = new JsonArray();
        foreach (var m in Merges) merges.Add(m);

        JsonNode? normalizer = metaspace ? null : new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(
                new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
        };
        JsonNode? preTokenizer = metaspace
            ? new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false }
            : null;
        JsonNode decoder = metaspace
            ? new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false }
            : new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            };

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                AddedToken(0, "<unk>"), AddedToken(1, "<s>"), AddedToken(2, "</s>")),
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            },
            ["decoder"] = decoder,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = true,
                ["byte_fallback"] = byteFallback,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes the JSON as tokenizer.json in a fresh temporary folder and returns the folder.</summary>
    public static string WriteFolder(string json)
    {
        string folder = Path.Combine(Path.GetTempPath(), "quantsharp-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json);
        return folder;
    }

    private static JsonObject AddedToken(int id, string content) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
    };
}
