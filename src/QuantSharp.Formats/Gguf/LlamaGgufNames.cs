// The GGUF key and tensor names llama.cpp uses, in one place for the writer, converters and tests.
using System.Globalization;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Metadata keys and tensor names as llama.cpp spells them (src/llama-arch.cpp, build b8390).
/// Architecture-scoped keys are functions of the architecture name ("llama", "qwen2", …).
/// </summary>
public static class LlamaGgufNames
{
    /// <summary>general.architecture (string).</summary>
    public const string Architecture = "general.architecture";
    /// <summary>general.name (string).</summary>
    public const string Name = "general.name";
    /// <summary>general.alignment (uint32).</summary>
    public const string Alignment = GgufFile.AlignmentKey;
    /// <summary>general.file_type (uint32, a llama_ftype).</summary>
    public const string FileType = "general.file_type";
    /// <summary>general.quantization_version (uint32).</summary>
    public const string QuantizationVersion = "general.quantization_version";

    /// <summary>{arch}.context_length (uint32).</summary>
    public static string ContextLength(string arch) => $"{arch}.context_length";
    /// <summary>{arch}.embedding_length (uint32).</summary>
    public static string EmbeddingLength(string arch) => $"{arch}.embedding_length";
    /// <summary>{arch}.block_count (uint32).</summary>
    public static string BlockCount(string arch) => $"{arch}.block_count";
    /// <summary>{arch}.feed_forward_length (uint32).</summary>
    public static string FeedForwardLength(string arch) => $"{arch}.feed_forward_length";
    /// <summary>{arch}.attention.head_count (uint32).</summary>
    public static string HeadCount(string arch) => $"{arch}.attention.head_count";
    /// <summary>{arch}.attention.head_count_kv (uint32).</summary>
    public static string HeadCountKv(string arch) => $"{arch}.attention.head_count_kv";
    /// <summary>{arch}.attention.key_length (uint32; defaults to embedding_length / head_count).</summary>
    public static string KeyLength(string arch) => $"{arch}.attention.key_length";
    /// <summary>{arch}.attention.value_length (uint32).</summary>
    public static string ValueLength(string arch) => $"{arch}.attention.value_length";
    /// <summary>{arch}.attention.layer_norm_rms_epsilon (float32).</summary>
    public static string RmsNormEpsilon(string arch) => $"{arch}.attention.layer_norm_rms_epsilon";
    /// <summary>{arch}.rope.freq_base (float32).</summary>
    public static string RopeFreqBase(string arch) => $"{arch}.rope.freq_base";
    /// <summary>{arch}.rope.dimension_count (uint32).</summary>
    public static string RopeDimensionCount(string arch) => $"{arch}.rope.dimension_count";
    /// <summary>{arch}.vocab_size (uint32).</summary>
    public static string VocabSize(string arch) => $"{arch}.vocab_size";

    /// <summary>tokenizer.ggml.model (string: "llama", "gpt2", …).</summary>
    public const string TokenizerModel = "tokenizer.ggml.model";
    /// <summary>tokenizer.ggml.pre (string).</summary>
    public const string TokenizerPre = "tokenizer.ggml.pre";
    /// <summary>tokenizer.ggml.tokens (string array).</summary>
    public const string TokenizerTokens = "tokenizer.ggml.tokens";
    /// <summary>tokenizer.ggml.scores (float32 array).</summary>
    public const string TokenizerScores = "tokenizer.ggml.scores";
    /// <summary>tokenizer.ggml.token_type (int32 array).</summary>
    public const string TokenizerTokenType = "tokenizer.ggml.token_type";
    /// <summary>tokenizer.ggml.merges (string array).</summary>
    public const string TokenizerMerges = "tokenizer.ggml.merges";
    /// <summary>tokenizer.ggml.bos_token_id (uint32).</summary>
    public const string TokenizerBosId = "tokenizer.ggml.bos_token_id";
    /// <summary>tokenizer.ggml.eos_token_id (uint32).</summary>
    public const string TokenizerEosId = "tokenizer.ggml.eos_token_id";
    /// <summary>tokenizer.ggml.unknown_token_id (uint32).</summary>
    public const string TokenizerUnknownId = "tokenizer.ggml.unknown_token_id";
    /// <summary>tokenizer.ggml.padding_token_id (uint32).</summary>
    public const string TokenizerPaddingId = "tokenizer.ggml.padding_token_id";
    /// <summary>tokenizer.ggml.add_bos_token (bool).</summary>
    public const string TokenizerAddBos = "tokenizer.ggml.add_bos_token";
    /// <summary>tokenizer.ggml.add_eos_token (bool).</summary>
    public const string TokenizerAddEos = "tokenizer.ggml.add_eos_token";
    /// <summary>tokenizer.ggml.add_space_prefix (bool).</summary>
    public const string TokenizerAddSpacePrefix = "tokenizer.ggml.add_space_prefix";
    /// <summary>tokenizer.chat_template (string).</summary>
    public const string ChatTemplate = "tokenizer.chat_template";

    /// <summary>Token embedding matrix [vocab, dim].</summary>
    public const string TokenEmbedding = "token_embd.weight";
    /// <summary>Final RMS norm weight [dim].</summary>
    public const string OutputNorm = "output_norm.weight";
    /// <summary>LM head [vocab, dim]; absent when tied to the embedding.</summary>
    public const string Output = "output.weight";

    private static string Block(int layer, string part) => string.Create(CultureInfo.InvariantCulture, $"blk.{layer}.{part}.weight");

    /// <summary>blk.N.attn_norm.weight [dim].</summary>
    public static string AttentionNorm(int layer) => Block(layer, "attn_norm");
    /// <summary>blk.N.attn_q.weight [heads·head_dim, dim].</summary>
    public static string AttentionQ(int layer) => Block(layer, "attn_q");
    /// <summary>blk.N.attn_k.weight [kv_heads·head_dim, dim].</summary>
    public static string AttentionK(int layer) => Block(layer, "attn_k");
    /// <summary>blk.N.attn_v.weight [kv_heads·head_dim, dim].</summary>
    public static string AttentionV(int layer) => Block(layer, "attn_v");
    /// <summary>blk.N.attn_output.weight [dim, heads·head_dim].</summary>
    public static string AttentionOutput(int layer) => Block(layer, "attn_output");
    /// <summary>blk.N.ffn_norm.weight [dim].</summary>
    public static string FfnNorm(int layer) => Block(layer, "ffn_norm");
    /// <summary>blk.N.ffn_gate.weight [ffn, dim].</summary>
    public static string FfnGate(int layer) => Block(layer, "ffn_gate");
    /// <summary>blk.N.ffn_up.weight [ffn, dim].</summary>
    public static string FfnUp(int layer) => Block(layer, "ffn_up");
    /// <summary>blk.N.ffn_down.weight [dim, ffn].</summary>
    public static string FfnDown(int layer) => Block(layer, "ffn_down");
}
