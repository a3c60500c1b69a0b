// The registry of supported architectures: one table entry per family.
using QuantSharp.Models.Llama;

namespace QuantSharp.Models.Architectures;

/// <summary>
/// Every supported architecture, looked up by Hugging Face <c>model_type</c>/<c>architectures</c> or by
/// GGUF <c>general.architecture</c>. To add a family that differs from these only in flags, add an entry.
/// </summary>
public static class ModelArchitectures
{
    /// <summary>Llama 1–3.x, SmolLM, llama2.c checkpoints.</summary>
    public static readonly ModelArchitecture Llama = new()
    {
        Name = "llama", HfArchitectures = ["LlamaForCausalLM"], GgufArchitecture = "llama", GgufRopeLayout = RopeLayout.Interleaved,
    };

    /// <summary>Mistral (Llama's block with an optional sliding window); llama.cpp stores it as "llama".</summary>
    public static readonly ModelArchitecture Mistral = Llama with
    {
        Name = "mistral", HfArchitectures = ["MistralForCausalLM"], SlidingWindow = SlidingWindowStyle.EveryLayer,
    };

    /// <summary>Qwen2 / Qwen2.5: q/k/v biases, NeoX RoPE.</summary>
    public static readonly ModelArchitecture Qwen2 = new()
    {
        Name = "qwen2", HfArchitectures = ["Qwen2ForCausalLM"], GgufArchitecture = "qwen2", GgufRopeLayout = RopeLayout.HalfSplit,
        QkvBias = true, SlidingWindow = SlidingWindowStyle.Optional,
    };

    /// <summary>Qwen3 (dense): per-head q/k RMSNorm before RoPE, no biases, NeoX RoPE.</summary>
    public static readonly ModelArchitecture Qwen3 = new()
    {
        Name = "qwen3", HfArchitectures = ["Qwen3ForCausalLM"], GgufArchitecture = "qwen3", GgufRopeLayout = RopeLayout.HalfSplit,
        QkNorm = true, SlidingWindow = SlidingWindowStyle.Optional,
    };

    /// <summary>
    /// Gemma 3 text models (Gemma3ForCausalLM; the language part of the larger multimodal checkpoints):
    /// (1 + w) RMSNorms, four per block, per-head q/k norms, GELU-tanh, √hidden embedding scale, local
    /// sliding-window layers with their own RoPE base between global layers, query_pre_attn_scalar.
    /// </summary>
    public static readonly ModelArchitecture Gemma3 = new()
    {
        Name = "gemma3_text", HfArchitectures = ["Gemma3ForCausalLM"], GgufArchitecture = "gemma3", GgufRopeLayout = RopeLayout.HalfSplit,
        QkNorm = true, PostNorms = true, NormPlusOne = true, EmbeddingScaled = true, Activation = Activation.GeluTanh,
        SlidingWindow = SlidingWindowStyle.Interleaved, HfNaming = TensorNaming.HuggingFaceGemma,
        ImplementedKeys = ["query_pre_attn_scalar"], GgufSlidingWindowRule = (6, 10000f),
    };

    /// <summary>Qwen3-MoE: Qwen3's attention, a routed mixture of experts in every layer (no shared expert).</summary>
    public static readonly ModelArchitecture Qwen3Moe = Qwen3 with
    {
        Name = "qwen3_moe", HfArchitectures = ["Qwen3MoeForCausalLM"], GgufArchitecture = "qwen3moe", Moe = true,
        HfNaming = TensorNaming.HuggingFace.With(
            (TensorRole.Router, "mlp.gate.weight"),
            (TensorRole.ExpertGate, "mlp.experts.{1}.gate_proj.weight"), (TensorRole.ExpertUp, "mlp.experts.{1}.up_proj.weight"),
            (TensorRole.ExpertDown, "mlp.experts.{1}.down_proj.weight")),
    };

    /// <summary>Mixtral: Mistral's block with a routed mixture of experts; llama.cpp stores it as "llama" with expert tensors.</summary>
    public static readonly ModelArchitecture Mixtral = Mistral with
    {
        Name = "mixtral", HfArchitectures = ["MixtralForCausalLM"], Moe = true,
        HfNaming = TensorNaming.HuggingFace.With(
            (TensorRole.Router, "block_sparse_moe.gate.weight"),
            (TensorRole.ExpertGate, "block_sparse_moe.experts.{1}.w1.weight"), (TensorRole.ExpertUp, "block_sparse_moe.experts.{1}.w3.weight"),
            (TensorRole.ExpertDown, "block_sparse_moe.experts.{1}.w2.weight")),
    };

    /// <summary>
    /// Phi-3 (Phi3ForCausalLM): Mistral's block with q/k/v fused in one <c>qkv_proj</c> (q rows, then k, then v)
    /// and gate/up in one <c>gate_up_proj</c> (gate rows first), in Hugging Face files and in llama.cpp's GGUF
    /// (<c>attn_qkv</c>; <c>ffn_up</c> of 2·ffn rows, no ffn_gate). The engine splits them at load into row views
    /// (no copy; block rows for quantized GGUF) and fuses them again when writing. NeoX RoPE; an optional
    /// <c>sliding_window</c> on every layer, as Mistral's.
    /// </summary>
    public static readonly ModelArchitecture Phi3 = new()
    {
        Name = "phi3", HfArchitectures = ["Phi3ForCausalLM"], GgufArchitecture = "phi3", GgufRopeLayout = RopeLayout.HalfSplit,
        SlidingWindow = SlidingWindowStyle.EveryLayer, GgufNeedsQueryWidthEqualHidden = true,
        HfNaming = TensorNaming.HuggingFace
            .Fuse("self_attn.qkv_proj.weight", TensorRole.Q, TensorRole.K, TensorRole.V)
            .Fuse("mlp.gate_up_proj.weight", TensorRole.Gate, TensorRole.Up),
        GgufNaming = TensorNaming.Gguf
            .Fuse("attn_qkv.weight", TensorRole.Q, TensorRole.K, TensorRole.V)
            .Fuse("ffn_up.weight", TensorRole.Gate, TensorRole.Up),
    };

    /// <summary>All supported architectures.</summary>
    public static IReadOnlyList<ModelArchitecture> All { get; } = [Llama, Mistral, Qwen2, Qwen3, Gemma3, Qwen3Moe, Mixtral, Phi3];

    /// <summary>The entry for a Hugging Face config, or null.</summary>
    public static ModelArchitecture? FromHf(string modelType, string architecture) =>
        All.FirstOrDefault(a => a.Name == modelType) ?? All.FirstOrDefault(a => a.HfArchitectures.Contains(architecture));

    /// <summary>
    /// The entry for a GGUF <c>general.architecture</c>, or null. Mistral's GGUF is "llama"; Mixtral's too, told
    /// apart by its experts (<paramref name="moe"/>: the file has <c>{arch}.expert_count</c> &gt; 0).
    /// </summary>
    public static ModelArchitecture? FromGguf(string ggufArchitecture, bool moe = false) =>
        All.FirstOrDefault(a => a.GgufArchitecture == ggufArchitecture && a.Moe == moe);

    /// <summary>Names for error messages.</summary>
    public static string SupportedHf => string.Join(", ", All.Select(a => $"{a.HfArchitectures[0]} ({a.Name})"));

    /// <summary>GGUF architecture names for error messages.</summary>
    public static string SupportedGguf => string.Join(", ", All.Select(a => a.GgufArchitecture).Distinct());
}
