// The hyperparameters llama.cpp's mix rules look at, and one weight tensor the mix is planned for.
namespace QuantSharp.Quantization.Recipes;

/// <summary>What llama.cpp's per-tensor type choice needs to know about a model (llama architecture).</summary>
/// <param name="NumLayers">Transformer blocks (hparams.n_layer).</param>
/// <param name="NumHeads">Query heads.</param>
/// <param name="NumKvHeads">Key/value heads.</param>
/// <param name="NumExperts">Experts per MoE layer; 0 for a dense model.</param>
public sealed record MixModelShape(int NumLayers, int NumHeads, int NumKvHeads, int NumExperts = 0)
{
    /// <summary>Query heads per key/value head (hparams.n_gqa(); 0 when there are no KV heads).</summary>
    public int Gqa => NumKvHeads == 0 ? 0 : NumHeads / NumKvHeads;

    /// <summary>
    /// llama.cpp's LLM_TYPE_70B for the llama architecture: 80 blocks with grouped-query attention
    /// (its attn_v gets more bits in the K-quant mixes).
    /// </summary>
    public bool Is70B => NumExperts != 8 && NumLayers == 80 && NumHeads != NumKvHeads;
}

/// <summary>A 2-D weight a mix assigns a type to.</summary>
/// <param name="Name">GGUF tensor name, e.g. "blk.0.attn_v.weight".</param>
/// <param name="Columns">Values per row (ggml ne[0]).</param>
public readonly record struct MixTensor(string Name, long Columns);
