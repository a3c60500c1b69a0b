// How one file family names each tensor role: a table of name patterns, one per role.
using System.Globalization;

namespace QuantSharp.Models.Architectures;

/// <summary>
/// Tensor names of one file family (Hugging Face safetensors, llama.cpp GGUF, Meta/llama2.c), as data:
/// a pattern per <see cref="TensorRole"/> in which <c>{0}</c> stands for the layer index. Several roles
/// may be stored in one fused tensor (Phi-3's <c>qkv_proj</c>, <c>gate_up_proj</c>): their rows
/// concatenated along the output dimension in the order <see cref="FusedParts"/> gives.
/// </summary>
public sealed class TensorNaming
{
    private readonly IReadOnlyDictionary<TensorRole, string> _patterns;
    private readonly IReadOnlyDictionary<TensorRole, TensorRole[]> _fused;

    /// <summary>A naming from role patterns ({0} = layer index).</summary>
    public TensorNaming(string family, IReadOnlyDictionary<TensorRole, string> patterns)
        : this(family, patterns, new Dictionary<TensorRole, TensorRole[]>())
    {
    }

    private TensorNaming(string family, IReadOnlyDictionary<TensorRole, string> patterns, IReadOnlyDictionary<TensorRole, TensorRole[]> fused)
    {
        Family = family;
        _patterns = patterns;
        _fused = fused;
    }

    /// <summary>"hf", "gguf" or "meta", for messages.</summary>
    public string Family { get; }

    /// <summary>Whether this family has a name for <paramref name="role"/>.</summary>
    public bool Has(TensorRole role) => _patterns.ContainsKey(role);

    /// <summary>The name of <paramref name="role"/> in layer <paramref name="layer"/> (ignored for model-level roles).</summary>
    public string Name(TensorRole role, int layer = 0) => Name(role, layer, 0);

    /// <summary>The name of expert <paramref name="expert"/>'s tensor of <paramref name="role"/> in layer <paramref name="layer"/> ({1} in the pattern).</summary>
    public string Name(TensorRole role, int layer, int expert) => _patterns.TryGetValue(role, out var p)
        ? string.Format(CultureInfo.InvariantCulture, p, layer, expert)
        : throw new NotSupportedException($"the {Family} naming has no tensor for {role}");

    /// <summary>
    /// Whether this family stores all experts of a layer in one 3-D tensor [experts, rows, columns] (GGUF)
    /// rather than one tensor per expert (Hugging Face).
    /// </summary>
    public bool StacksExperts(TensorRole role) => _patterns.TryGetValue(role, out var p) && !p.Contains("{1}", StringComparison.Ordinal);

    /// <summary>
    /// The roles stored in the same tensor as <paramref name="role"/>, in row order (their rows are
    /// concatenated along the output dimension); just <paramref name="role"/> when it has a tensor of its own.
    /// </summary>
    public IReadOnlyList<TensorRole> FusedParts(TensorRole role) => _fused.TryGetValue(role, out var parts) ? parts : [role];

    /// <summary>Whether <paramref name="role"/> is the first part of its tensor (or has a tensor of its own): the one a writer writes it for.</summary>
    public bool IsFirstPart(TensorRole role) => FusedParts(role)[0] == role;

    /// <summary>This naming with per-layer patterns added or replaced (e.g. a family's expert tensors).</summary>
    public TensorNaming With(params (TensorRole Role, string Part)[] layer)
    {
        var d = new Dictionary<TensorRole, string>(_patterns);
        foreach (var (role, part) in layer) d[role] = LayerPrefix + part;
        return new TensorNaming(Family, d, _fused);
    }

    /// <summary>
    /// This naming with <paramref name="parts"/> stored in one per-layer tensor <paramref name="part"/>, their
    /// rows concatenated in the given order (Phi-3's <c>qkv_proj</c>: q rows, then k, then v).
    /// </summary>
    public TensorNaming Fuse(string part, params TensorRole[] parts)
    {
        var d = new Dictionary<TensorRole, string>(_patterns);
        var f = new Dictionary<TensorRole, TensorRole[]>(_fused);
        foreach (var role in parts)
        {
            d[role] = LayerPrefix + part;
            f[role] = parts;
        }
        return new TensorNaming(Family, d, f);
    }

    // "model.layers.{0}." / "blk.{0}.": the part of a per-layer pattern before the tensor's own name.
    private string LayerPrefix => _patterns[TensorRole.AttentionNorm][..(_patterns[TensorRole.AttentionNorm].IndexOf("{0}", StringComparison.Ordinal) + 4)];

    /// <summary>Token embedding.</summary>
    public string TokenEmbedding => Name(TensorRole.TokenEmbedding);
    /// <summary>Final norm.</summary>
    public string OutputNorm => Name(TensorRole.OutputNorm);
    /// <summary>Classifier.</summary>
    public string Output => Name(TensorRole.Output);
    /// <summary>Attention norm of a layer.</summary>
    public string AttentionNorm(int i) => Name(TensorRole.AttentionNorm, i);
    /// <summary>MLP norm of a layer.</summary>
    public string FfnNorm(int i) => Name(TensorRole.FfnNorm, i);

    private static TensorNaming Build(string family, string global, string embedding, string outputNorm, string output, (TensorRole, string)[] layer)
    {
        var d = new Dictionary<TensorRole, string>
        {
            [TensorRole.TokenEmbedding] = embedding,
            [TensorRole.OutputNorm] = outputNorm,
            [TensorRole.Output] = output,
        };
        foreach (var (role, part) in layer) d[role] = global + part;
        return new TensorNaming(family, d);
    }

    /// <summary>Hugging Face transformers (LlamaForCausalLM and the families that copy its module names).</summary>
    public static readonly TensorNaming HuggingFace = Build("hf", "model.layers.{0}.",
        "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
        [
            (TensorRole.AttentionNorm, "input_layernorm.weight"),
            (TensorRole.Q, "self_attn.q_proj.weight"), (TensorRole.K, "self_attn.k_proj.weight"),
            (TensorRole.V, "self_attn.v_proj.weight"), (TensorRole.O, "self_attn.o_proj.weight"),
            (TensorRole.QBias, "self_attn.q_proj.bias"), (TensorRole.KBias, "self_attn.k_proj.bias"),
            (TensorRole.VBias, "self_attn.v_proj.bias"),
            (TensorRole.QNorm, "self_attn.q_norm.weight"), (TensorRole.KNorm, "self_attn.k_norm.weight"),
            (TensorRole.FfnNorm, "post_attention_layernorm.weight"),
            (TensorRole.Gate, "mlp.gate_proj.weight"), (TensorRole.Up, "mlp.up_proj.weight"), (TensorRole.Down, "mlp.down_proj.weight"),
        ]);

    /// <summary>
    /// Hugging Face Gemma 2/3: four norms per block, where <c>post_attention_layernorm</c> is the attention
    /// output's norm (in Llama it is the MLP's input norm) and <c>pre_feedforward_layernorm</c> the MLP's.
    /// </summary>
    public static readonly TensorNaming HuggingFaceGemma = Build("hf", "model.layers.{0}.",
        "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
        [
            (TensorRole.AttentionNorm, "input_layernorm.weight"),
            (TensorRole.Q, "self_attn.q_proj.weight"), (TensorRole.K, "self_attn.k_proj.weight"),
            (TensorRole.V, "self_attn.v_proj.weight"), (TensorRole.O, "self_attn.o_proj.weight"),
            (TensorRole.QNorm, "self_attn.q_norm.weight"), (TensorRole.KNorm, "self_attn.k_norm.weight"),
            (TensorRole.AttentionPostNorm, "post_attention_layernorm.weight"),
            (TensorRole.FfnNorm, "pre_feedforward_layernorm.weight"),
            (TensorRole.FfnPostNorm, "post_feedforward_layernorm.weight"),
            (TensorRole.Gate, "mlp.gate_proj.weight"), (TensorRole.Up, "mlp.up_proj.weight"), (TensorRole.Down, "mlp.down_proj.weight"),
        ]);

    /// <summary>llama.cpp's GGUF names (llama, qwen2, qwen3, gemma3 share them).</summary>
    public static readonly TensorNaming Gguf = Build("gguf", "blk.{0}.",
        "token_embd.weight", "output_norm.weight", "output.weight",
        [
            (TensorRole.AttentionNorm, "attn_norm.weight"),
            (TensorRole.Q, "attn_q.weight"), (TensorRole.K, "attn_k.weight"), (TensorRole.V, "attn_v.weight"),
            (TensorRole.O, "attn_output.weight"),
            (TensorRole.QBias, "attn_q.bias"), (TensorRole.KBias, "attn_k.bias"), (TensorRole.VBias, "attn_v.bias"),
            (TensorRole.QNorm, "attn_q_norm.weight"), (TensorRole.KNorm, "attn_k_norm.weight"),
            (TensorRole.AttentionPostNorm, "post_attention_norm.weight"),
            (TensorRole.FfnNorm, "ffn_norm.weight"),
            (TensorRole.FfnPostNorm, "post_ffw_norm.weight"),
            (TensorRole.Gate, "ffn_gate.weight"), (TensorRole.Up, "ffn_up.weight"), (TensorRole.Down, "ffn_down.weight"),
            (TensorRole.Router, "ffn_gate_inp.weight"),
            (TensorRole.ExpertGate, "ffn_gate_exps.weight"), (TensorRole.ExpertUp, "ffn_up_exps.weight"), (TensorRole.ExpertDown, "ffn_down_exps.weight"),
        ]);

    /// <summary>Meta's original names, used by llama2.c (w1 = gate, w3 = up, w2 = down).</summary>
    public static readonly TensorNaming Meta = Build("meta", "layers.{0}.",
        "tok_embeddings.weight", "norm.weight", "output.weight",
        [
            (TensorRole.AttentionNorm, "attention_norm.weight"),
            (TensorRole.Q, "attention.wq.weight"), (TensorRole.K, "attention.wk.weight"),
            (TensorRole.V, "attention.wv.weight"), (TensorRole.O, "attention.wo.weight"),
            (TensorRole.FfnNorm, "ffn_norm.weight"),
            (TensorRole.Gate, "feed_forward.w1.weight"), (TensorRole.Up, "feed_forward.w3.weight"), (TensorRole.Down, "feed_forward.w2.weight"),
        ]);
}
