// Small Hugging Face checkpoints with deterministic random weights, one per supported architecture, written by the tests.
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;

namespace QuantSharp.Tests.Architectures;

/// <summary>
/// The shape and options of one fixture checkpoint. Dimensions exercise GQA (4 query heads on 2 KV
/// heads), an explicit head_dim that differs from hidden/heads (Qwen3), biases and q/k norms, and are
/// multiples of 256 so that every GGUF block type applies. The vocabulary is sotu-llama-30m's real
/// byte-level BPE tokenizer (8192 tokens), copied into the folder.
/// </summary>
public sealed record ArchitectureSpec(string ModelType, string HfArchitecture)
{
    public int Hidden { get; init; } = 256;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int HeadDim { get; init; } = 64;
    public int Ffn { get; init; } = 512;
    public int Vocab { get; init; } = 8192;
    public int Context { get; init; } = 512;
    public double RopeTheta { get; init; } = 10000;
    public double RmsNormEps { get; init; } = 1e-6;
    public bool Tied { get; init; }
    public bool QkvBias { get; init; }
    public bool QkNorm { get; init; }
    public int? SlidingWindow { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Mixture of experts: experts per layer (0 = dense MLP), experts per token, each expert's width.</summary>
    public int Experts { get; init; }
    public int ExpertsUsed { get; init; }
    public int ExpertFfn { get; init; } = 256;
    /// <summary>
    /// An expert no token is ever routed to: the router's rows 0–5 come in opposite pairs (w, −w), so three experts
    /// always have a logit ≥ 0, and this expert's row is zero (needs 8 experts, top-2, index ≥ 6).
    /// </summary>
    public int? DeadExpert { get; init; }
    /// <summary>When set, the first weight of layer 0's q_proj takes this value (an extreme but finite weight).</summary>
    public float? ExtremeWeight { get; init; }

    /// <summary>Whether the checkpoint fuses q/k/v and gate/up (Phi-3's qkv_proj and gate_up_proj).</summary>
    public bool Fused => ModelType == "phi3";

    /// <summary>A name for folders and messages.</summary>
    public string Name => (SlidingWindow is { } w && !IsGemma ? $"{ModelType}-swa{w}" : ModelType) + (DeadExpert is { } x ? $"-dead{x}" : "");

    public override string ToString() => Name;

    public static readonly ArchitectureSpec Llama = new("llama", "LlamaForCausalLM") { Tied = true, RmsNormEps = 1e-5 };
    public static readonly ArchitectureSpec Mistral = new("mistral", "MistralForCausalLM") { Seed = 2, RopeTheta = 1e6 };
    public static readonly ArchitectureSpec MistralWindow = Mistral with { SlidingWindow = 16 };
    public static readonly ArchitectureSpec Qwen2 = new("qwen2", "Qwen2ForCausalLM") { Tied = true, QkvBias = true, Seed = 3, RopeTheta = 1e6 };
    public static readonly ArchitectureSpec Qwen3 = new("qwen3", "Qwen3ForCausalLM") { QkNorm = true, Heads = 8, HeadDim = 64, Seed = 4, RopeTheta = 1e6 };
    /// <summary>Gemma 3 text: six layers so that layer 5 is global and 0–4 local (window 16, their own RoPE base).</summary>
    public static readonly ArchitectureSpec Gemma3 = new("gemma3_text", "Gemma3ForCausalLM") { QkNorm = true, Tied = true, Layers = 6, SlidingWindow = 16, Seed = 5, RopeTheta = 1e6 };

    /// <summary>Qwen3-MoE: 4 experts, top 2, renormalised; Qwen3's q/k norms.</summary>
    public static readonly ArchitectureSpec Qwen3Moe = new("qwen3_moe", "Qwen3MoeForCausalLM") { QkNorm = true, Experts = 4, ExpertsUsed = 2, Seed = 6, RopeTheta = 1e6 };
    /// <summary>Mixtral: 8 experts (llama.cpp's mixes treat 8-expert models specially), top 2.</summary>
    public static readonly ArchitectureSpec Mixtral = new("mixtral", "MixtralForCausalLM") { Experts = 8, ExpertsUsed = 2, Seed = 7, RopeTheta = 1e6 };

    /// <summary>
    /// Phi-3: q/k/v fused in qkv_proj and gate/up in gate_up_proj; 8 query heads on 4 KV heads of 32 (llama.cpp's phi3
    /// needs heads × head_dim = hidden); the config carries a sliding window as long as the context, as Phi-3-mini's does.
    /// </summary>
    public static readonly ArchitectureSpec Phi3 = new("phi3", "Phi3ForCausalLM") { Heads = 8, KvHeads = 4, HeadDim = 32, Seed = 8 };
    /// <summary>Phi-3 with a window of 16, which transformers applies on every layer.</summary>
    public static readonly ArchitectureSpec Phi3Window = Phi3 with { SlidingWindow = 16 };

    /// <summary>Whether this is the Gemma family (norms stored as w of 1 + w, four per block, GELU).</summary>
    public bool IsGemma => ModelType == "gemma3_text";

    /// <summary>The fixtures llama.cpp can run (every architecture without a sliding window it would ignore).</summary>
    public static readonly ArchitectureSpec[] LlamaCppRunnable = [Llama, Mistral, Qwen2, Qwen3, Gemma3, Qwen3Moe, Mixtral, Phi3];
}

/// <summary>Writes an <see cref="ArchitectureSpec"/> as a Hugging Face folder (config.json, model.safetensors in fp32, tokenizer).</summary>
public static class ArchitectureFixture
{
    /// <summary>Writes the folder <paramref name="folder"/> (created) and returns it.</summary>
    public static string Write(ArchitectureSpec spec, string folder)
    {
        Directory.CreateDirectory(folder);
        var rng = new Random(spec.Seed);
        var w = new SafetensorsWriter();
        int d = spec.Hidden, q = spec.Heads * spec.HeadDim, kv = spec.KvHeads * spec.HeadDim, f = spec.Ffn;
        void Add(string name, long[] shape, Func<float> draw)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var values = new float[n];
            for (long i = 0; i < n; i++) values[i] = draw();
            if (spec.ExtremeWeight is { } extreme && name == "model.layers.0.self_attn.q_proj.weight") values[0] = extreme;
            w.AddTensor(name, DType.F32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        // Scales chosen so that attention scores, MLP activations and logits are of order one: a model
        // with structure, whose greedy choices are not near-ties.
        Func<float> Normal(double std) => () => (float)(std * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        // Gemma stores w of a norm that multiplies by 1 + w: the same multipliers, stored minus one.
        float shift = spec.IsGemma ? 1 : 0;
        Func<float> Around1 = () => (float)(1 - shift + 0.4 * (rng.NextDouble() - 0.5));
        Add("model.embed_tokens.weight", [spec.Vocab, d], Normal(0.1));
        for (int i = 0; i < spec.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", [d], Around1);
            if (spec.Fused)
                Add(p + "self_attn.qkv_proj.weight", [q + 2 * kv, d], Normal(1.0 / 16)); // q rows, then k, then v
            else
            {
                Add(p + "self_attn.q_proj.weight", [q, d], Normal(1.0 / 16));
                Add(p + "self_attn.k_proj.weight", [kv, d], Normal(1.0 / 16));
                Add(p + "self_attn.v_proj.weight", [kv, d], Normal(1.0 / 16));
            }
            Add(p + "self_attn.o_proj.weight", [d, q], Normal(1.0 / Math.Sqrt(q)));
            if (spec.QkvBias)
            {
                Add(p + "self_attn.q_proj.bias", [q], Normal(0.3));
                Add(p + "self_attn.k_proj.bias", [kv], Normal(0.3));
                Add(p + "self_attn.v_proj.bias", [kv], Normal(0.3));
            }
            if (spec.QkNorm)
            {
                Add(p + "self_attn.q_norm.weight", [spec.HeadDim], Around1);
                Add(p + "self_attn.k_norm.weight", [spec.HeadDim], Around1);
            }
            Add(p + "post_attention_layernorm.weight", [d], Around1);
            if (spec.IsGemma)
            {
                Add(p + "pre_feedforward_layernorm.weight", [d], Around1);
                Add(p + "post_feedforward_layernorm.weight", [d], Around1);
            }
            if (spec.Experts > 0)
            {
                bool mixtral = spec.ModelType == "mixtral";
                string moe = mixtral ? "block_sparse_moe." : "mlp.";
                int ef = spec.ExpertFfn;
                if (spec.DeadExpert is { } dead)
                {
                    if (spec.Experts != 8 || spec.ExpertsUsed != 2 || dead < 6) throw new ArgumentException("a dead expert needs 8 experts, top-2, index ≥ 6");
                    var router = new float[spec.Experts * d];
                    var draw = Normal(1.0 / 16);
                    for (int j = 0; j < router.Length; j++) router[j] = draw();
                    for (int e = 0; e < 6; e += 2)
                        for (int j = 0; j < d; j++) router[(e + 1) * d + j] = -router[e * d + j];
                    Array.Clear(router, dead * d, d);
                    w.AddTensor(p + moe + "gate.weight", DType.F32, [spec.Experts, d], MemoryMarshal.AsBytes(router.AsSpan()).ToArray());
                }
                else Add(p + moe + "gate.weight", [spec.Experts, d], Normal(1.0 / 16));
                for (int e = 0; e < spec.Experts; e++)
                {
                    string x = $"{p}{moe}experts.{e}.";
                    Add(x + (mixtral ? "w1" : "gate_proj") + ".weight", [ef, d], Normal(1.0 / 16));
                    Add(x + (mixtral ? "w3" : "up_proj") + ".weight", [ef, d], Normal(1.0 / 16));
                    Add(x + (mixtral ? "w2" : "down_proj") + ".weight", [d, ef], Normal(1.0 / Math.Sqrt(ef)));
                }
                continue;
            }
            if (spec.Fused)
                Add(p + "mlp.gate_up_proj.weight", [2 * f, d], Normal(1.0 / 16)); // gate rows, then up
            else
            {
                Add(p + "mlp.gate_proj.weight", [f, d], Normal(1.0 / 16));
                Add(p + "mlp.up_proj.weight", [f, d], Normal(1.0 / 16));
            }
            Add(p + "mlp.down_proj.weight", [d, f], Normal(1.0 / Math.Sqrt(f)));
        }
        Add("model.norm.weight", [d], Around1);
        if (!spec.Tied) Add("lm_head.weight", [spec.Vocab, d], Normal(0.1));
        w.WriteFile(Path.Combine(folder, "model.safetensors"));

        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(spec.HfArchitecture),
            ["model_type"] = spec.ModelType,
            ["hidden_size"] = d,
            ["intermediate_size"] = f,
            ["num_hidden_layers"] = spec.Layers,
            ["num_attention_heads"] = spec.Heads,
            ["num_key_value_heads"] = spec.KvHeads,
            ["head_dim"] = spec.HeadDim,
            ["vocab_size"] = spec.Vocab,
            ["max_position_embeddings"] = spec.Context,
            ["rms_norm_eps"] = spec.RmsNormEps,
            ["rope_theta"] = spec.RopeTheta,
            ["hidden_act"] = spec.IsGemma ? "gelu_pytorch_tanh" : "silu",
            ["tie_word_embeddings"] = spec.Tied,
            ["bos_token_id"] = 0,
            ["eos_token_id"] = 0,
            ["torch_dtype"] = "float32",
        };
        switch (spec.ModelType)
        {
            case "mistral": config["sliding_window"] = spec.SlidingWindow; break;
            case "qwen2" or "qwen3":
                config["use_sliding_window"] = false;
                config["sliding_window"] = spec.Context;
                config["max_window_layers"] = spec.Layers;
                if (spec.ModelType == "qwen3") config["attention_bias"] = false;
                break;
            case "llama": config["attention_bias"] = false; config["mlp_bias"] = false; break;
            case "qwen3_moe":
                config["num_experts"] = spec.Experts;
                config["num_experts_per_tok"] = spec.ExpertsUsed;
                config["moe_intermediate_size"] = spec.ExpertFfn;
                config["norm_topk_prob"] = true;
                config["decoder_sparse_step"] = 1;
                config["mlp_only_layers"] = new JsonArray();
                config["use_sliding_window"] = false;
                config["attention_bias"] = false;
                break;
            case "mixtral":
                config["num_local_experts"] = spec.Experts;
                config["num_experts_per_tok"] = spec.ExpertsUsed;
                config["intermediate_size"] = spec.ExpertFfn;
                config["sliding_window"] = null;
                config["router_jitter_noise"] = 0.0;
                break;
            case "phi3":
                // As Phi-3-mini-4k's config: a window (there 2047 of 4096), dropout keys, no rope scaling.
                config["sliding_window"] = spec.SlidingWindow ?? spec.Context;
                config["original_max_position_embeddings"] = spec.Context;
                config["rope_scaling"] = null;
                config["attention_bias"] = false;
                config["attention_dropout"] = 0.0;
                config["embd_pdrop"] = 0.0;
                config["resid_pdrop"] = 0.0;
                break;
            case "gemma3_text":
                config.Remove("hidden_act");
                config["hidden_activation"] = "gelu_pytorch_tanh";
                config["query_pre_attn_scalar"] = spec.HeadDim;
                config["rope_local_base_freq"] = 10000.0;
                config["sliding_window"] = spec.SlidingWindow;
                config["layer_types"] = new JsonArray([.. Enumerable.Range(0, spec.Layers).Select(i => (JsonNode)((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention"))]);
                config["final_logit_softcapping"] = null;
                config["attn_logit_softcapping"] = null;
                config["attention_bias"] = false;
                break;
        }
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(SharedData.Model("sotu-llama-30m", file), Path.Combine(folder, file));
        return folder;
    }
}
