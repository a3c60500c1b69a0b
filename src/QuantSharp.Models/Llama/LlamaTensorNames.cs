// How each file family names the tensors of a Llama model.
namespace QuantSharp.Models.Llama;

/// <summary>Tensor names of one file family for the parts of a Llama model.</summary>
public sealed record LlamaTensorNames(
    string TokenEmbedding,
    string OutputNorm,
    string Output,
    Func<int, string> AttentionNorm,
    Func<int, string> Wq,
    Func<int, string> Wk,
    Func<int, string> Wv,
    Func<int, string> Wo,
    Func<int, string> FfnNorm,
    Func<int, string> WGate,
    Func<int, string> WUp,
    Func<int, string> WDown)
{
    /// <summary>Hugging Face transformers (LlamaForCausalLM).</summary>
    public static readonly LlamaTensorNames HuggingFace = new(
        "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
        i => $"model.layers.{i}.input_layernorm.weight",
        i => $"model.layers.{i}.self_attn.q_proj.weight",
        i => $"model.layers.{i}.self_attn.k_proj.weight",
        i => $"model.layers.{i}.self_attn.v_proj.weight",
        i => $"model.layers.{i}.self_attn.o_proj.weight",
        i => $"model.layers.{i}.post_attention_layernorm.weight",
        i => $"model.layers.{i}.mlp.gate_proj.weight",
        i => $"model.layers.{i}.mlp.up_proj.weight",
        i => $"model.layers.{i}.mlp.down_proj.weight");

    /// <summary>llama.cpp's GGUF names for arch "llama".</summary>
    public static readonly LlamaTensorNames Gguf = new(
        "token_embd.weight", "output_norm.weight", "output.weight",
        i => $"blk.{i}.attn_norm.weight",
        i => $"blk.{i}.attn_q.weight",
        i => $"blk.{i}.attn_k.weight",
        i => $"blk.{i}.attn_v.weight",
        i => $"blk.{i}.attn_output.weight",
        i => $"blk.{i}.ffn_norm.weight",
        i => $"blk.{i}.ffn_gate.weight",
        i => $"blk.{i}.ffn_up.weight",
        i => $"blk.{i}.ffn_down.weight");

    /// <summary>Meta's original names, used by llama2.c (w1 = gate, w3 = up, w2 = down).</summary>
    public static readonly LlamaTensorNames Meta = new(
        "tok_embeddings.weight", "norm.weight", "output.weight",
        i => $"layers.{i}.attention_norm.weight",
        i => $"layers.{i}.attention.wq.weight",
        i => $"layers.{i}.attention.wk.weight",
        i => $"layers.{i}.attention.wv.weight",
        i => $"layers.{i}.attention.wo.weight",
        i => $"layers.{i}.ffn_norm.weight",
        i => $"layers.{i}.feed_forward.w1.weight",
        i => $"layers.{i}.feed_forward.w3.weight",
        i => $"layers.{i}.feed_forward.w2.weight");
}
