// Architecture-neutral hyperparameters of a Llama-family decoder, whatever file they came from.
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Models.Architectures;

namespace QuantSharp.Models.Llama;

/// <summary>How query/key dimensions are paired for rotary embeddings.</summary>
public enum RopeLayout
{
    /// <summary>Pairs (2i, 2i+1): GGUF's llama, llama2.c and Meta's original checkpoints.</summary>
    Interleaved,
    /// <summary>Pairs (i, i + d/2): Hugging Face's rotate_half (GGUF converters permute q/k rows to undo it).</summary>
    HalfSplit,
}

/// <summary>
/// Hyperparameters of a decoder-only model of one of the <see cref="ModelArchitectures"/> (Llama 1–3,
/// Mistral, Qwen2/2.5, Qwen3, SmolLM, llama2.c models).
/// </summary>
public sealed record LlamaHyperParameters
{
    /// <summary>The architecture (which optional tensors a block has, names, RoPE layout in GGUF).</summary>
    public ModelArchitecture Architecture { get; init; } = ModelArchitectures.Llama;
    /// <summary>Sliding-window attention: each query sees at most this many positions (itself included); null = full causal attention.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Which layers use <see cref="SlidingWindow"/> (null: all of them when it is set).</summary>
    public bool[]? SlidingLayers { get; init; }
    /// <summary>RoPE base of the sliding-window layers when it differs from <see cref="RopeTheta"/> (Gemma 3; no scaling there), or null.</summary>
    public float? RopeLocalTheta { get; init; }
    /// <summary>Attention scores are scaled by this value's inverse square root (Gemma's query_pre_attn_scalar); null = head_dim.</summary>
    public float? QueryPreAttentionScalar { get; init; }

    /// <summary>Mixture of experts: experts per layer (0 for a dense MLP).</summary>
    public int ExpertCount { get; init; }
    /// <summary>Mixture of experts: experts each token is routed to (top-k).</summary>
    public int ExpertsPerToken { get; init; }
    /// <summary>Mixture of experts: each expert's hidden width.</summary>
    public int ExpertHiddenDim { get; init; }
    /// <summary>Mixture of experts: the top-k routing weights are divided by their sum (Qwen3-MoE's norm_topk_prob; always in Mixtral).</summary>
    public bool NormalizeTopK { get; init; } = true;

    /// <summary>The window of layer <paramref name="layer"/> (null: full causal attention).</summary>
    public int? WindowOf(int layer) => SlidingWindow is { } w && (SlidingLayers is null || SlidingLayers[layer]) ? w : null;

    /// <summary>Whether layer <paramref name="layer"/> uses the local RoPE (<see cref="RopeLocalTheta"/>).</summary>
    public bool UsesLocalRope(int layer) => RopeLocalTheta is not null && SlidingLayers is { } s && s[layer];

    /// <summary>The scale of attention scores q·k.</summary>
    public float AttentionScale => 1f / MathF.Sqrt(QueryPreAttentionScalar ?? HeadDim);

    /// <summary>The factor the token embedding is multiplied by (√hidden for Gemma), or null for none.</summary>
    public float? EmbeddingScale => Architecture.EmbeddingScaled ? MathF.Sqrt(Dim) : null;

    /// <summary>The same parameters for the local (sliding-window) layers' RoPE: their base, no scaling.</summary>
    public LlamaHyperParameters LocalRope() => this with { RopeTheta = RopeLocalTheta ?? RopeTheta, RopeScaling = null, RopeFrequencyFactors = null };
    /// <summary>Vocabulary size (rows of the embedding).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Model width.</summary>
    public required int Dim { get; init; }
    /// <summary>FFN width.</summary>
    public required int HiddenDim { get; init; }
    /// <summary>Decoder layers.</summary>
    public required int NumLayers { get; init; }
    /// <summary>Query heads.</summary>
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads (grouped-query attention when fewer than query heads).</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>Per-head width.</summary>
    public required int HeadDim { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public required float RmsNormEps { get; init; }
    /// <summary>RoPE base.</summary>
    public required float RopeTheta { get; init; }
    /// <summary>RoPE frequency scaling (linear or Llama-3), or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Per-pair frequency divisors stored in a GGUF (rope_freqs.weight, Llama-3 scaling), or null.</summary>
    public float[]? RopeFrequencyFactors { get; init; }
    /// <summary>Training context length.</summary>
    public required int ContextLength { get; init; }
    /// <summary>Which dimensions RoPE pairs, as stored in the weights.</summary>
    public required RopeLayout RopeLayout { get; init; }
    /// <summary>Whether the classifier shares the token embedding.</summary>
    public required bool TiedEmbeddings { get; init; }

    /// <summary>Query width = heads × head_dim.</summary>
    public int QDim => NumHeads * HeadDim;
    /// <summary>Key/value width = kv heads × head_dim.</summary>
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>
    /// From a Hugging Face config. Keys that change the model's function and that the engine does not
    /// implement (soft-capping, experts, partial rotary, biases the architecture has not, per-layer
    /// sliding windows) are refused with an error naming them, never ignored.
    /// </summary>
    public static LlamaHyperParameters FromHf(HfConfig c)
    {
        var arch = ModelArchitectures.FromHf(c.ModelType, c.Architecture)
            ?? throw new NotSupportedException($"{c.Path}: architecture '{c.Architecture}' (model_type '{c.ModelType}') is not supported; supported: {ModelArchitectures.SupportedHf}");
        string Refuse(string key, string why) => throw new NotSupportedException($"{c.Path}: '{key}' {why} is not supported for {arch.Name}");
        if (c.AttentionBias) Refuse("attention_bias", "true (biases on q/k/v/o)");
        if (c.MlpBias) Refuse("mlp_bias", "true");
        string expectedAct = arch.Activation == Activation.GeluTanh ? "gelu_pytorch_tanh" : "silu";
        if (c.HiddenAct != expectedAct) Refuse("hidden_act", $"'{c.HiddenAct}' (expected {expectedAct})");
        if (c.RopeScaling is { Type: not ("linear" or "llama3") } rs) Refuse("rope_scaling", $"type '{rs.Type}' (supported: default, linear, llama3)");
        foreach (var key in UnimplementedKeys)
            if (c.Keys.Contains(key) && !arch.ImplementedKeys.Contains(key)) Refuse(key, "(a feature of another architecture)");
        if (c.RopeLocalTheta is not null && arch.SlidingWindow != SlidingWindowStyle.Interleaved) Refuse("rope_local_base_freq", "");
        int Count(string key) => c.Numbers.TryGetValue(key, out var v) ? (v >= 1 && v <= 1 << 16 && v == Math.Floor(v) ? (int)v : throw new InvalidDataException($"{c.Path}: '{key}' = {v} is not a valid count")) : 0;
        int experts = 0, used = 0, expertHidden = 0;
        bool normTopK = true;
        if (arch.Moe)
        {
            experts = Count("num_experts") + Count("num_local_experts");
            used = Count("num_experts_per_tok");
            if (experts < 2 || used < 1 || used > experts)
                throw new InvalidDataException($"{c.Path}: a mixture of experts needs num_experts (or num_local_experts) ≥ 2 and 1 ≤ num_experts_per_tok ≤ it; got {experts} and {used}");
            expertHidden = Count("moe_intermediate_size") is > 0 and var mh ? mh : c.IntermediateSize;
            if (c.Keys.Contains("norm_topk_prob")) normTopK = c.RawValues["norm_topk_prob"] == "true";
            if (Count("decoder_sparse_step") > 1) Refuse("decoder_sparse_step", $"= {Count("decoder_sparse_step")} (dense layers between MoE layers)");
            if (c.RawValues.TryGetValue("mlp_only_layers", out var dense) && dense.Replace(" ", "") != "[]") Refuse("mlp_only_layers", $"= {dense}");
            foreach (var key in new[] { "shared_expert_intermediate_size", "n_shared_experts" })
                if (Count(key) > 0) Refuse(key, "(shared experts)");
        }
        else
        {
            foreach (var key in new[] { "num_local_experts", "num_experts", "n_routed_experts" })
                if (c.Numbers.TryGetValue(key, out var e) && e > 0) Refuse(key, $"= {e} (mixture of experts)");
        }
        if (c.Numbers.TryGetValue("partial_rotary_factor", out var prf) && prf != 1) Refuse("partial_rotary_factor", $"= {prf}");
        int? window = null;
        switch (arch.SlidingWindow)
        {
            case SlidingWindowStyle.None:
                if (c.SlidingWindow is { } w0) Refuse("sliding_window", $"= {w0}");
                break;
            case SlidingWindowStyle.EveryLayer:
                window = c.SlidingWindow;
                break;
            case SlidingWindowStyle.Optional:
                if (c.UseSlidingWindow) Refuse("use_sliding_window", "true (sliding windows on some layers)");
                break;
        }
        bool[]? slidingLayers = null;
        if (arch.SlidingWindow == SlidingWindowStyle.Interleaved)
        {
            window = c.SlidingWindow ?? throw new InvalidDataException($"{c.Path}: {arch.Name} needs 'sliding_window'");
            if (c.LayerTypes is { } lt)
            {
                if (lt.Count != c.NumLayers) throw new InvalidDataException($"{c.Path}: 'layer_types' has {lt.Count} entries for {c.NumLayers} layers");
                if (lt.FirstOrDefault(t => t is not ("sliding_attention" or "full_attention")) is { } bad) Refuse("layer_types", $"entry '{bad}'");
                slidingLayers = lt.Select(t => t == "sliding_attention").ToArray();
            }
            else
            {
                // transformers' Gemma 3 default: every sliding_window_pattern-th layer (1-based) is global.
                int pattern = c.SlidingWindowPattern ?? 6;
                slidingLayers = Enumerable.Range(0, c.NumLayers).Select(i => (i + 1) % pattern != 0).ToArray();
            }
        }
        else if (c.LayerTypes is { } types && types.Any(t => t != "full_attention"))
            Refuse("layer_types", $"[{string.Join(", ", types.Distinct())}] (only full_attention is implemented)");
        if (slidingLayers is null && window is { } w && w >= c.MaxPositionEmbeddings) window = null; // a window as long as the context changes nothing
        return new LlamaHyperParameters
        {
            Architecture = arch,
            SlidingWindow = window,
            SlidingLayers = slidingLayers,
            RopeLocalTheta = arch.SlidingWindow == SlidingWindowStyle.Interleaved ? (float)(c.RopeLocalTheta ?? 10000.0) : null,
            QueryPreAttentionScalar = c.QueryPreAttentionScalar is { } q ? (float)q : null,
            ExpertCount = experts,
            ExpertsPerToken = used,
            ExpertHiddenDim = expertHidden,
            NormalizeTopK = normTopK,
            VocabSize = c.VocabSize,
            Dim = c.HiddenSize,
            HiddenDim = c.IntermediateSize,
            NumLayers = c.NumLayers,
            NumHeads = c.NumHeads,
            NumKvHeads = c.NumKvHeads,
            HeadDim = c.HeadDim,
            RmsNormEps = (float)c.RmsNormEps,
            RopeTheta = (float)c.RopeTheta,
            RopeScaling = c.RopeScaling,
            ContextLength = c.MaxPositionEmbeddings,
            RopeLayout = RopeLayout.HalfSplit,
            TiedEmbeddings = c.TieWordEmbeddings,
        };
    }

    // Config keys of other families that change the function; their presence means a model we would run wrongly.
    private static readonly string[] UnimplementedKeys =
        ["attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "logits_scaling", "embedding_multiplier", "residual_multiplier", "attention_multiplier"];

    /// <summary>
    /// Inverse frequencies per rotary pair, in double precision then rounded once:
    /// base^(−2i/d), divided by the scaling factor where the config asks for it.
    /// </summary>
    public float[] RopeInverseFrequencies()
    {
        int half = HeadDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            double f = Math.Pow(RopeTheta, -2.0 * i / HeadDim);
            f /= RopeFrequencyFactors is { } ff ? ff[i] : RopeFrequencyFactor(f);
            inv[i] = (float)f;
        }
        return inv;
    }

    /// <summary>The divisor scaling applies to inverse frequency <paramref name="invFreq"/> (1 when none).</summary>
    public double RopeFrequencyFactor(double invFreq)
    {
        if (RopeScaling is null) return 1.0;
        if (RopeScaling.Type == "linear") return RopeScaling.Factor;
        // Llama-3: long wavelengths are divided by the factor, short ones kept, a smooth ramp between.
        var s = RopeScaling;
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        double wavelen = 2 * Math.PI / invFreq;
        if (wavelen < highWavelen) return 1.0;
        if (wavelen > lowWavelen) return s.Factor;
        double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return 1.0 / ((1 - smooth) / s.Factor + smooth);
    }
}
