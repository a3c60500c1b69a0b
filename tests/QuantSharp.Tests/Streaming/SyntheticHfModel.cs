// Writes a tiny Llama model folder (config.json, model.safetensors, tokenizer.json) with seeded random weights.
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Tests.Tokenizers;

namespace QuantSharp.Tests.Streaming;

/// <summary>
/// A 2-layer Llama (dim 64, hidden 128, 2 heads of 32, 1 KV head, vocab 277 of the synthetic
/// tokenizer) in Hugging Face layout: every linear dimension a multiple of 32, so it GPTQ-packs.
/// Format tests only; quality claims use the real models.
/// </summary>
internal static class SyntheticHfModel
{
    public const int Dim = 64, Hidden = 128, Layers = 2, Vocab = 277;

    public static string Write(string folder, int seed = 1)
    {
        Directory.CreateDirectory(folder);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = Dim,
            ["intermediate_size"] = Hidden,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = 2,
            ["num_key_value_heads"] = 1,
            ["head_dim"] = 32,
            ["vocab_size"] = Vocab,
            ["max_position_embeddings"] = 128,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["tie_word_embeddings"] = true,
            ["hidden_act"] = "silu",
            ["torch_dtype"] = "float32",
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), SyntheticTokenizerJson.Build());
        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        void Add(string name, float scale, float offset, params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = offset + scale * (float)(rng.NextDouble() * 2 - 1);
            w.AddTensor(name, DType.F32, shape, MemoryMarshal.AsBytes(v.AsSpan()).ToArray());
        }
        Add("model.embed_tokens.weight", 1f, 0, Vocab, Dim);
        for (int i = 0; i < Layers; i++)
        {
            string p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", 0.2f, 1, Dim);
            Add(p + "self_attn.q_proj.weight", 0.2f, 0, 64, Dim);
            Add(p + "self_attn.k_proj.weight", 0.2f, 0, 32, Dim);
            Add(p + "self_attn.v_proj.weight", 0.2f, 0, 32, Dim);
            Add(p + "self_attn.o_proj.weight", 0.2f, 0, Dim, 64);
            Add(p + "post_attention_layernorm.weight", 0.2f, 1, Dim);
            Add(p + "mlp.gate_proj.weight", 0.2f, 0, Hidden, Dim);
            Add(p + "mlp.up_proj.weight", 0.2f, 0, Hidden, Dim);
            Add(p + "mlp.down_proj.weight", 0.1f, 0, Dim, Hidden);
        }
        Add("model.norm.weight", 0.2f, 1, Dim);
        w.WriteFile(Path.Combine(folder, "model.safetensors"));
        return folder;
    }
}
