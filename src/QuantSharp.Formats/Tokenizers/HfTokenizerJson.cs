// Reads the parts of a Hugging Face tokenizer.json (and tokenizer_config.json) that the BPE tokenizers need.
using System.Text.Json;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// A parsed tokenizer.json with a BPE model. Every structural problem (bad JSON, missing or mistyped
/// fields, duplicate ids) becomes an <see cref="InvalidDataException"/> whose message names the file.
/// </summary>
public sealed class HfTokenizerJson
{
    // Far above any real vocabulary, low enough that per-id tables of a hostile file cannot exhaust memory.
    private const int MaxId = (1 << 24) - 1;

    private HfTokenizerJson(string path) => Path = path;

    /// <summary>The tokenizer.json path, for error messages.</summary>
    public string Path { get; }

    /// <summary>model.type ("BPE", "WordPiece", "Unigram", …).</summary>
    public string ModelType { get; private set; } = "";

    /// <summary>model.vocab: token text to id.</summary>
    public Dictionary<string, int> Vocab { get; } = new(StringComparer.Ordinal);

    /// <summary>model.merges in rank order.</summary>
    public List<(string Left, string Right)> Merges { get; } = new();

    /// <summary>model.unk_token, if any.</summary>
    public string? UnkToken { get; private set; }

    /// <summary>model.byte_fallback: unknown characters become &lt;0xNN&gt; tokens.</summary>
    public bool ByteFallback { get; private set; }

    /// <summary>model.fuse_unk: consecutive unknown tokens become one.</summary>
    public bool FuseUnk { get; private set; }

    /// <summary>model.ignore_merges: a word that is itself in the vocabulary is not merged (Llama-3).</summary>
    public bool IgnoreMerges { get; private set; }

    /// <summary>added_tokens.</summary>
    public List<HfAddedToken> AddedTokens { get; } = new();

    /// <summary>The normalizer section (JSON null when absent).</summary>
    public JsonElement Normalizer { get; private set; }

    /// <summary>The pre_tokenizer section (JSON null when absent).</summary>
    public JsonElement PreTokenizer { get; private set; }

    /// <summary>The decoder section (JSON null when absent).</summary>
    public JsonElement Decoder { get; private set; }

    /// <summary>The post_processor section (JSON null when absent).</summary>
    public JsonElement PostProcessor { get; private set; }

    /// <summary>bos_token of a tokenizer_config.json beside the file, if any.</summary>
    public string? ConfigBosToken { get; private set; }

    /// <summary>eos_token of a tokenizer_config.json beside the file, if any.</summary>
    public string? ConfigEosToken { get; private set; }

    /// <summary>add_bos_token of tokenizer_config.json, if present.</summary>
    public bool? ConfigAddBos { get; private set; }

    /// <summary>Sets what tokenizer_config.json would say (used when rebuilding from GGUF metadata).</summary>
    internal void SetSpecialTokens(string? bos, string? eos, bool addBos)
    {
        ConfigBosToken = bos;
        ConfigEosToken = eos;
        ConfigAddBos = addBos;
    }

    /// <summary>Number of ids: one past the largest id of the vocabulary and the added tokens.</summary>
    public int IdCount
    {
        get
        {
            int max = -1;
            foreach (var id in Vocab.Values) max = Math.Max(max, id);
            foreach (var t in AddedTokens) max = Math.Max(max, t.Id);
            return max + 1;
        }
    }

    /// <summary>Reads <paramref name="path"/> and, when present, the tokenizer_config.json in the same folder.</summary>
    public static HfTokenizerJson Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the tokenizer file: {e.Message}", e);
        }
        var result = Parse(path, bytes);
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        string config = System.IO.Path.Combine(folder ?? ".", "tokenizer_config.json");
        if (File.Exists(config)) result.ReadConfig(config);
        return result;
    }

    /// <summary>Parses tokenizer.json content held in memory; <paramref name="origin"/> names it in errors.</summary>
    public static HfTokenizerJson Parse(string origin, byte[] bytes)
    {
        var result = new HfTokenizerJson(origin);
        string path = origin;
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true });
            result.Read(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: malformed tokenizer.json: {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            // Wrong JSON kinds (a number where an object belongs, …) surface as these from System.Text.Json.
            throw new InvalidDataException($"{path}: malformed tokenizer.json: {e.Message}", e);
        }
        return result;
    }

    private void Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Bad("the top level is not a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object) throw Bad("no \"model\" object");

        // Older files omit model.type for BPE.
        ModelType = model.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString()! : "BPE";
        UnkToken = OptionalString(model, "unk_token");
        ByteFallback = OptionalBool(model, "byte_fallback");
        FuseUnk = OptionalBool(model, "fuse_unk");
        IgnoreMerges = OptionalBool(model, "ignore_merges");
        if (OptionalString(model, "continuing_subword_prefix") is { Length: > 0 } || OptionalString(model, "end_of_word_suffix") is { Length: > 0 })
        {
            throw Bad("BPE with continuing_subword_prefix/end_of_word_suffix is not supported");
        }

        if (model.TryGetProperty("vocab", out var vocab) && vocab.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in vocab.EnumerateObject())
            {
                int id = entry.Value.GetInt32();
                if (id < 0 || id > MaxId) throw Bad($"id {id} for token \"{entry.Name}\" is out of range 0..{MaxId}");
                if (!Vocab.TryAdd(entry.Name, id)) throw Bad($"token \"{entry.Name}\" is listed twice");
            }
        }
        else if (ModelType == "BPE")
        {
            throw Bad("the BPE model has no \"vocab\" object");
        }

        if (model.TryGetProperty("merges", out var merges) && merges.ValueKind == JsonValueKind.Array)
        {
            foreach (var m in merges.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String)
                {
                    // Older layout: "left right".
                    string s = m.GetString()!;
                    int space = s.IndexOf(' ');
                    if (space <= 0 || space != s.LastIndexOf(' ') || space == s.Length - 1) throw Bad($"merge \"{s}\" is not two tokens separated by one space");
                    Merges.Add((s[..space], s[(space + 1)..]));
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    Merges.Add((m[0].GetString() ?? throw Bad("null in a merge"), m[1].GetString() ?? throw Bad("null in a merge")));
                }
                else
                {
                    throw Bad($"merge entry {m.GetRawText()} is neither \"a b\" nor [\"a\", \"b\"]");
                }
            }
        }

        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var t in added.EnumerateArray())
            {
                int id = t.GetProperty("id").GetInt32();
                if (id < 0 || id > MaxId) throw Bad($"added-token id {id} is out of range 0..{MaxId}");
                string content = t.GetProperty("content").GetString() ?? throw Bad("added token without content");
                AddedTokens.Add(new HfAddedToken(id, content, OptionalBool(t, "special"), OptionalBool(t, "lstrip"), OptionalBool(t, "rstrip"), OptionalBool(t, "single_word")));
            }
        }

        // Ids index per-id tables (scores, types, GGUF arrays): one id of 16,777,215 in a small file
        // would make them gigabytes. Real files number their tokens densely from 0; the bound leaves
        // room for gaps (padded vocabularies, reserved ranges) yet ties the size to what is present.
        int present = Vocab.Count + AddedTokens.Count;
        long bound = 2L * present + 1024;
        if (IdCount > bound)
            throw Bad($"the largest token id is {IdCount - 1} but only {present} tokens are defined; ids must stay below {bound} (2 × tokens + 1024)");

        Normalizer = Section(root, "normalizer");
        PreTokenizer = Section(root, "pre_tokenizer");
        Decoder = Section(root, "decoder");
        PostProcessor = Section(root, "post_processor");
    }

    private void ReadConfig(string config)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(config), new JsonDocumentOptions { AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return;
            ConfigBosToken = TokenText(root, "bos_token");
            ConfigEosToken = TokenText(root, "eos_token");
            if (root.TryGetProperty("add_bos_token", out var addBos) && addBos.ValueKind is JsonValueKind.True or JsonValueKind.False) ConfigAddBos = addBos.GetBoolean();
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException)
        {
            throw new InvalidDataException($"{config}: malformed tokenizer_config.json: {e.Message}", e);
        }
    }

    /// <summary>The id of <paramref name="token"/> among added tokens and then the vocabulary, or null.</summary>
    public int? IdOf(string? token)
    {
        if (token is null) return null;
        foreach (var t in AddedTokens)
        {
            if (t.Content == token) return t.Id;
        }
        return Vocab.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>
    /// Whether the post-processor prepends a special token to a single sequence (a TemplateProcessing
    /// whose "single" template starts with a SpecialToken, as Llama-2/3 files do).
    /// </summary>
    public bool PostProcessorAddsBos()
    {
        foreach (var p in Flatten(PostProcessor))
        {
            if (TypeOf(p) != "TemplateProcessing" || !p.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array) continue;
            if (single.GetArrayLength() > 0 && single[0].ValueKind == JsonValueKind.Object && single[0].TryGetProperty("SpecialToken", out _)) return true;
        }
        return false;
    }

    /// <summary>An <see cref="InvalidDataException"/> naming the file.</summary>
    internal InvalidDataException Bad(string what) => new($"{Path}: {what}.");

    // bos_token is either a string or an AddedToken object {"content": …}.
    private static string? TokenText(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        };
    }

    private static JsonElement Section(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) ? v.Clone() : default;

    private static string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool OptionalBool(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>The "type" of a JSON section, or null when the section is absent or null.</summary>
    internal static string? TypeOf(JsonElement section) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>The section itself, or the members of a "Sequence" section (its "pretokenizers"/"normalizers"/"decoders" array).</summary>
    internal static List<JsonElement> Flatten(JsonElement section)
    {
        var list = new List<JsonElement>();
        if (section.ValueKind != JsonValueKind.Object) return list;
        if (TypeOf(section) == "Sequence")
        {
            foreach (var p in section.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Array) continue;
                foreach (var item in p.Value.EnumerateArray()) list.AddRange(Flatten(item));
            }
        }
        else
        {
            list.Add(section);
        }
        return list;
    }
}
