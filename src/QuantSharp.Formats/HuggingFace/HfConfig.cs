// Hugging Face config.json for decoder-only transformers (Llama family), both transformers-4 and -5 layouts.
using System.Text.Json;

namespace QuantSharp.Formats.HuggingFace;

/// <summary>RoPE frequency scaling as declared by a config.</summary>
/// <param name="Type">"default", "linear", "llama3" (others are rejected by the model loader).</param>
/// <param name="Factor">Scaling factor (linear, llama3).</param>
/// <param name="LowFreqFactor">Llama-3: low_freq_factor.</param>
/// <param name="HighFreqFactor">Llama-3: high_freq_factor.</param>
/// <param name="OriginalMaxPositionEmbeddings">Llama-3: original_max_position_embeddings.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);

/// <summary>
/// The fields of config.json a Llama-family decoder needs. RoPE settings are read from
/// <c>rope_parameters</c> (transformers ≥ 5) or the older top-level <c>rope_theta</c> and
/// <c>rope_scaling</c>.
/// </summary>
public sealed record HfConfig
{
    /// <summary>config.json path, for messages.</summary>
    public required string Path { get; init; }
    /// <summary>model_type, e.g. "llama".</summary>
    public required string ModelType { get; init; }
    /// <summary>architectures[0], e.g. "LlamaForCausalLM".</summary>
    public required string Architecture { get; init; }
    /// <summary>hidden_size.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>intermediate_size.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>num_hidden_layers.</summary>
    public required int NumLayers { get; init; }
    /// <summary>num_attention_heads.</summary>
    public required int NumHeads { get; init; }
    /// <summary>num_key_value_heads (defaults to num_attention_heads).</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>head_dim (defaults to hidden_size / num_attention_heads).</summary>
    public required int HeadDim { get; init; }
    /// <summary>vocab_size.</summary>
    public required int VocabSize { get; init; }
    /// <summary>rms_norm_eps.</summary>
    public required double RmsNormEps { get; init; }
    /// <summary>RoPE base frequency.</summary>
    public required double RopeTheta { get; init; }
    /// <summary>RoPE scaling, or null for none.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>max_position_embeddings.</summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>tie_word_embeddings (transformers defaults it to false for Llama).</summary>
    public required bool TieWordEmbeddings { get; init; }
    /// <summary>bos_token_id.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos_token_id (first one if a list).</summary>
    public int? EosTokenId { get; init; }
    /// <summary>attention_bias.</summary>
    public bool AttentionBias { get; init; }
    /// <summary>mlp_bias.</summary>
    public bool MlpBias { get; init; }
    /// <summary>hidden_act.</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>dtype / torch_dtype.</summary>
    public string? DType { get; init; }
    /// <summary>Gemma: RoPE base of the local (sliding-window) layers (rope_local_base_freq, or rope_parameters.sliding_attention.rope_theta).</summary>
    public double? RopeLocalTheta { get; init; }
    /// <summary>Gemma: query_pre_attn_scalar (attention scores are scaled by its inverse square root), or null.</summary>
    public double? QueryPreAttentionScalar { get; init; }
    /// <summary>Gemma 2/3: sliding_window_pattern (every n-th layer global) when layer_types is absent, or null.</summary>
    public int? SlidingWindowPattern { get; init; }
    /// <summary>sliding_window (null when absent or null).</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>use_sliding_window (Qwen2/Qwen3 configs; false when absent).</summary>
    public bool UseSlidingWindow { get; init; }
    /// <summary>layer_types (transformers ≥ 4.54: "full_attention" / "sliding_attention" per layer), or null.</summary>
    public IReadOnlyList<string>? LayerTypes { get; init; }
    /// <summary>
    /// Every top-level key whose value is not null, so that a loader can refuse a key it does not
    /// implement (soft-capping, experts, partial rotary …) instead of silently ignoring it.
    /// </summary>
    public IReadOnlySet<string> Keys { get; init; } = new HashSet<string>();
    /// <summary>Every top-level key whose value is not null, with its JSON text (for list-valued switches such as mlp_only_layers).</summary>
    public IReadOnlyDictionary<string, string> RawValues { get; init; } = new Dictionary<string, string>();
    /// <summary>Top-level keys with a numeric value, and the value (keys absent, null or not numbers are not listed).</summary>
    public IReadOnlyDictionary<string, double> Numbers { get; init; } = new Dictionary<string, double>();

    /// <summary>Reads config.json from a model folder or a file path.</summary>
    public static HfConfig Load(string folderOrFile)
    {
        string path = Directory.Exists(folderOrFile) ? System.IO.Path.Combine(folderOrFile, "config.json") : folderOrFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        using var doc = StrictJson.ParseFile(path);
        return Parse(path, doc.RootElement);
    }

    /// <summary>Parses an already-read config object.</summary>
    public static HfConfig Parse(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: config must be a JSON object");
        var r = new Reader(path, root);
        string modelType = r.String("model_type") ?? throw r.Missing("model_type");
        string arch = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String
            ? a[0].GetString()! : modelType;
        int hidden = r.PositiveInt("hidden_size") ?? throw r.Missing("hidden_size");
        int heads = r.PositiveInt("num_attention_heads") ?? throw r.Missing("num_attention_heads");
        int kvHeads = r.PositiveInt("num_key_value_heads") ?? heads;
        if (heads % kvHeads != 0) throw new InvalidDataException($"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        int headDim = r.PositiveInt("head_dim") ?? (hidden % heads == 0 ? hidden / heads : throw new InvalidDataException($"{path}: hidden_size {hidden} is not divisible by num_attention_heads {heads} and no head_dim is given"));
        if (headDim % 2 != 0) throw new InvalidDataException($"{path}: head_dim {headDim} must be even for RoPE");

        // transformers 5 moved RoPE settings into rope_parameters; older configs keep rope_theta/rope_scaling at top level.
        double theta = 10000.0;
        RopeScaling? scaling = null;
        double? localTheta = r.Double("rope_local_base_freq");
        if (root.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object
            && (rp.TryGetProperty("full_attention", out _) || rp.TryGetProperty("sliding_attention", out _)))
        {
            // Per layer type (Gemma 3 in transformers 5): full_attention holds the global RoPE, sliding_attention the local one.
            if (rp.TryGetProperty("full_attention", out var full) && full.ValueKind == JsonValueKind.Object)
            {
                var rr = new Reader(path + " rope_parameters.full_attention", full);
                theta = rr.Double("rope_theta") ?? theta;
                scaling = ParseScaling(rr, full);
            }
            if (rp.TryGetProperty("sliding_attention", out var local) && local.ValueKind == JsonValueKind.Object)
            {
                var rr = new Reader(path + " rope_parameters.sliding_attention", local);
                localTheta = rr.Double("rope_theta") ?? localTheta;
                if (ParseScaling(rr, local) is { } ls) throw new NotSupportedException($"{path}: rope scaling '{ls.Type}' on the sliding-window layers is not supported");
            }
        }
        else if (root.TryGetProperty("rope_parameters", out rp) && rp.ValueKind == JsonValueKind.Object)
        {
            var rr = new Reader(path + " rope_parameters", rp);
            theta = rr.Double("rope_theta") ?? r.Double("rope_theta") ?? theta;
            scaling = ParseScaling(rr, rp);
        }
        else
        {
            theta = r.Double("rope_theta") ?? theta;
            if (root.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind == JsonValueKind.Object)
                scaling = ParseScaling(new Reader(path + " rope_scaling", rs), rs);
        }
        HyperParameterChecks.RopeTheta(path, "rope_theta", theta, headDim);

        int? eos = null;
        if (root.TryGetProperty("eos_token_id", out var e))
        {
            // A list (Llama-3 gives several end tokens) contributes its first id.
            if (e.ValueKind == JsonValueKind.Number) eos = TokenId(path, "eos_token_id", e);
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0) eos = TokenId(path, "eos_token_id[0]", e[0]);
            else if (e.ValueKind != JsonValueKind.Null && e.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: 'eos_token_id' must be a token id or a list of them, got {Short(e)}");
        }
        double eps = r.Double("rms_norm_eps") ?? 1e-6;
        HyperParameterChecks.RmsEpsilon(path, "rms_norm_eps", eps);
        if (scaling is { } sc)
        {
            // Factors divide or multiply frequencies: 0, negative or non-finite values give NaN or ∞ angles.
            HyperParameterChecks.ScalingFactor(path, "factor", sc.Factor);
            HyperParameterChecks.ScalingFactor(path, "low_freq_factor", sc.LowFreqFactor);
            HyperParameterChecks.ScalingFactor(path, "high_freq_factor", sc.HighFreqFactor);
            if (sc.Type == "llama3" && !(sc.HighFreqFactor > sc.LowFreqFactor))
                throw new InvalidDataException($"{path}: rope scaling 'high_freq_factor' {sc.HighFreqFactor} must exceed 'low_freq_factor' {sc.LowFreqFactor} (llama3 divides by their difference)");
        }

        return new HfConfig
        {
            Path = path,
            ModelType = modelType,
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = r.PositiveInt("intermediate_size") ?? throw r.Missing("intermediate_size"),
            NumLayers = r.PositiveInt("num_hidden_layers") ?? throw r.Missing("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = r.PositiveInt("vocab_size") ?? throw r.Missing("vocab_size"),
            RmsNormEps = eps,
            RopeTheta = theta,
            RopeScaling = scaling,
            MaxPositionEmbeddings = r.PositiveInt("max_position_embeddings") ?? 2048,
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            BosTokenId = root.TryGetProperty("bos_token_id", out var b) && b.ValueKind != JsonValueKind.Null ? TokenId(path, "bos_token_id", b) : null,
            EosTokenId = eos,
            AttentionBias = r.Bool("attention_bias") ?? false,
            MlpBias = r.Bool("mlp_bias") ?? false,
            HiddenAct = r.String("hidden_activation") ?? r.String("hidden_act") ?? "silu",
            DType = r.String("dtype") ?? r.String("torch_dtype"),
            SlidingWindow = r.PositiveInt("sliding_window"),
            SlidingWindowPattern = r.PositiveInt("sliding_window_pattern"),
            QueryPreAttentionScalar = r.Double("query_pre_attn_scalar") is { } qpas ? (qpas > 0 ? qpas : throw new InvalidDataException($"{path}: query_pre_attn_scalar {qpas} must be positive")) : null,
            RopeLocalTheta = localTheta is { } lt ? (lt > 0 ? lt : throw new InvalidDataException($"{path}: rope_local_base_freq {lt} must be positive")) : null,
            UseSlidingWindow = r.Bool("use_sliding_window") ?? false,
            LayerTypes = StringList(path, root, "layer_types"),
            RawValues = root.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null)
                .GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value.GetRawText(), StringComparer.Ordinal),
            Keys = root.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null).Select(p => p.Name).ToHashSet(StringComparer.Ordinal),
            Numbers = root.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetDouble(out _))
                .GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value.GetDouble(), StringComparer.Ordinal),
        };
    }

    private static string[]? StringList(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: '{key}' must be a list of strings, got {Short(v)}");
        var list = new string[v.GetArrayLength()];
        int i = 0;
        foreach (var e in v.EnumerateArray())
            list[i++] = e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new InvalidDataException($"{path}: '{key}' must be a list of strings, got element {Short(e)}");
        return list;
    }

    // A token id is a whole number in [0, int.MaxValue]: 1.5, 1e-300, -1 and 4294967296 are not
    // (GetInt32 would throw FormatException for some of them and accept nothing useful for the rest).
    private static int TokenId(string path, string key, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int id) || id < 0)
            throw new InvalidDataException($"{path}: '{key}' must be a token id (a whole number from 0 to {int.MaxValue}), got {Short(v)}");
        return id;
    }

    // The raw text of a value, cut so that a hostile value cannot make a huge message.
    private static string Short(JsonElement v)
    {
        string raw = v.GetRawText();
        return raw.Length <= 100 ? raw : raw[..100] + "…";
    }

    private static RopeScaling? ParseScaling(Reader r, JsonElement obj)
    {
        string? type = r.String("rope_type") ?? r.String("type");
        if (type is null or "default") return null;
        return new RopeScaling(
            type,
            r.Double("factor") ?? 1.0,
            r.Double("low_freq_factor") ?? 1.0,
            r.Double("high_freq_factor") ?? 4.0,
            r.PositiveInt("original_max_position_embeddings") ?? 8192);
    }

    /// <summary>Typed, validating access to a JSON object's fields.</summary>
    private readonly struct Reader(string path, JsonElement obj)
    {
        public InvalidDataException Missing(string key) => new($"{path}: required key '{key}' is missing");

        private JsonElement? Value(string key) =>
            obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string? String(string key) => Value(key) is { } v
            ? (v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InvalidDataException($"{path}: '{key}' must be a string, got {v.GetRawText()}"))
            : null;

        public int? Int(string key) => Value(key) is { } v
            ? (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new InvalidDataException($"{path}: '{key}' must be an integer, got {v.GetRawText()}"))
            : null;

        public int? PositiveInt(string key)
        {
            int? i = Int(key);
            if (i is <= 0) throw new InvalidDataException($"{path}: '{key}' must be positive, got {i}");
            return i;
        }

        public double? Double(string key) => Value(key) is { } v
            ? (v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new InvalidDataException($"{path}: '{key}' must be a number, got {v.GetRawText()}"))
            : null;

        public bool? Bool(string key) => Value(key) is { } v
            ? (v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new InvalidDataException($"{path}: '{key}' must be true or false, got {v.GetRawText()}"))
            : null;
    }
}
