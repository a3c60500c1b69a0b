// llama.cpp b8390's per-tensor type choice for a named file type (llama_tensor_get_type and its fallbacks).
using System.Globalization;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Decides the GGUF type of every 2-D weight for a <see cref="LlamaCppFileType"/> exactly as
/// llama_model_quantize does for the llama architecture (llama.cpp b8390, src/llama-quant.cpp):
/// the ftype's default block type, raised for sensitive tensors (output/tied embedding → Q6_K,
/// attn_v and ffn_down in the first, last and every third middle layer, attn_output for the low-bit
/// mixes), then replaced by a compatible type when a row is not a whole number of blocks.
/// </summary>
public static class LlamaCppMix
{
    private enum Category { TokenEmbedding, Output, AttentionV, AttentionK, AttentionQ, AttentionQkv, AttentionOutput, FfnUp, FfnGate, FfnDown, Other }

    /// <summary>
    /// The type of every tensor in <paramref name="tensors"/>. The counters llama.cpp keeps (how many
    /// attn_v / ffn_down tensors it has seen) follow its tensor order — by block number, then by name —
    /// whatever order <paramref name="tensors"/> comes in.
    /// </summary>
    /// <param name="fileType">The named mix.</param>
    /// <param name="shape">The model's hyperparameters.</param>
    /// <param name="tensors">Every weight that will be quantized (token embedding and output included).</param>
    /// <param name="hasImatrix">Whether an importance matrix is supplied (some rules depend on it).</param>
    /// <param name="pure">llama-quantize --pure: every tensor gets the default type (fallbacks still apply).</param>
    /// <param name="overrides">llama-quantize's --tensor-type / --token-embedding-type / --output-tensor-type, applied after the rules.</param>
    /// <exception cref="NotSupportedException">A row does not fit the chosen type nor any fallback llama.cpp defines, or an override's type.</exception>
    /// <exception cref="ArgumentException">An override that applies to no tensor.</exception>
    public static IReadOnlyDictionary<string, GgmlType> Plan(LlamaCppFileType fileType, MixModelShape shape, IEnumerable<MixTensor> tensors,
        bool hasImatrix, bool pure = false, TensorTypeOverrides? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.ToList();
        ordered.Sort((a, b) => CompareLikeLlamaCpp(a.Name, b.Name));
        var defaultType = GgmlTypeInfo.FromDType(LlamaCppFileTypeNames.DefaultType(fileType))!.Value;
        var state = new Counters
        {
            AttentionVTotal = ordered.Count(t => IsAttentionVLike(Classify(t.Name))),
            LayerTotal = shape.NumLayers,
            TiedEmbeddings = !ordered.Any(t => Classify(t.Name) == Category.Output),
        };
        var plan = new Dictionary<string, GgmlType>(StringComparer.Ordinal);
        foreach (var t in ordered)
        {
            // A --tensor-type match replaces the mix's rule, which then does not see the tensor (llama.cpp skips
            // llama_tensor_get_type, so its attn_v/ffn_down counters do not advance either).
            var type = pure ? defaultType
                : overrides?.TensorTypeFor(t.Name) ?? MixType(fileType, shape, t, defaultType, hasImatrix, state);
            var fitted = Fallback(type, t.Columns, t.Name);
            if (overrides != null) fitted = overrides.ApplyModelTensorTypes(t.Name, t.Columns, fitted);
            if (!plan.TryAdd(t.Name, fitted))
                throw new ArgumentException($"tensor {t.Name} is listed twice", nameof(tensors));
        }
        overrides?.CheckApplies(plan.Keys);
        return plan;
    }

    /// <summary>
    /// llama.cpp's fallback for a tensor whose rows (<paramref name="columns"/> values) are not a whole
    /// number of <paramref name="type"/>'s blocks: Q2_K/Q3_K → Q4_0, IQ4_XS → IQ4_NL, Q4_K → Q5_0,
    /// Q5_K → Q5_1, Q6_K → Q8_0, and F16 when even the fallback's 32-blocks do not fit.
    /// </summary>
    /// <exception cref="NotSupportedException">llama.cpp defines no fallback for <paramref name="type"/> (the legacy 32-block types).</exception>
    public static GgmlType Fallback(GgmlType type, long columns, string tensorName)
    {
        var info = GgmlTypeInfo.Of(type);
        if (!info.IsBlockQuantized || columns % info.BlockSize == 0) return type;
        GgmlType fallback = type switch
        {
            GgmlType.IQ4_XS => GgmlType.IQ4_NL,
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new NotSupportedException(
                $"{tensorName}: rows of {columns} values are not a multiple of {info.Name}'s block of {info.BlockSize}, and llama.cpp defines no fallback type for {info.Name} (llama-quantize refuses this model too)"),
        };
        return columns % GgmlTypeInfo.Of(fallback).BlockSize == 0 ? fallback : GgmlType.F16;
    }

    private sealed class Counters
    {
        public int AttentionVTotal, AttentionV, FfnDown, FfnGate, FfnUp, LayerTotal;
        public bool TiedEmbeddings;
    }

    // use_more_bits: the first and last eighth of the layers and every third layer in between.
    private static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private static GgmlType MixType(LlamaCppFileType f, MixModelShape shape, MixTensor t, GgmlType type, bool hasImatrix, Counters c)
    {
        var category = Classify(t.Name);
        if (category == Category.Output || (c.TiedEmbeddings && category == Category.TokenEmbedding))
        {
            // The classifier (or the embedding it shares) is the most sensitive tensor: Q6_K unless the mix is Q8_0
            // or the default type does not fit its rows.
            if (t.Columns % GgmlTypeInfo.Of(type).BlockSize != 0) return GgmlType.Q8_0;
            return type == GgmlType.Q8_0 ? type : GgmlType.Q6_K;
        }
        if (category == Category.TokenEmbedding) return type; // the i-quant/ternary rules only
        if (IsAttentionVLike(category))
        {
            int i = c.AttentionV, n = c.AttentionVTotal;
            if (f == LlamaCppFileType.Q2_K) type = shape.Gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (f == LlamaCppFileType.Q2_K_S && shape.Gqa >= 4) type = GgmlType.Q4_K;
            else if (f == LlamaCppFileType.Q3_K_M) type = i < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
            else if (f == LlamaCppFileType.Q3_K_L) type = GgmlType.Q5_K;
            else if (f is LlamaCppFileType.IQ4_NL or LlamaCppFileType.IQ4_XS && shape.Gqa >= 4) type = GgmlType.Q5_K;
            else if (f is LlamaCppFileType.Q4_K_M or LlamaCppFileType.Q5_K_M && UseMoreBits(i, n)) type = GgmlType.Q6_K;
            else if (f == LlamaCppFileType.Q4_K_S && i < 4) type = GgmlType.Q5_K;
            // 70B: attn_v is 8× smaller than attn_q (8 query heads per KV head), so more bits cost little.
            if (shape.Is70B && type is GgmlType.Q3_K or GgmlType.Q4_K) type = GgmlType.Q5_K;
            if (shape.NumExperts == 8) type = GgmlType.Q8_0;
            c.AttentionV++;
            return type;
        }
        switch (category)
        {
            case Category.AttentionK:
                return shape.NumExperts == 8 ? GgmlType.Q8_0 : type;
            case Category.FfnDown:
            {
                var (i, n) = LayerOf(t.Name, c.FfnDown, c.LayerTotal, shape);
                if (f == LlamaCppFileType.Q2_K) type = GgmlType.Q3_K;
                else if (f == LlamaCppFileType.Q2_K_S) { if (i < n / 8) type = GgmlType.Q4_K; }
                else if (f == LlamaCppFileType.Q3_K_M) type = i < n / 16 ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (f == LlamaCppFileType.Q3_K_L) type = GgmlType.Q5_K;
                else if (f == LlamaCppFileType.Q4_K_M) { if (UseMoreBits(i, n)) type = GgmlType.Q6_K; }
                else if (i < n / 8 && f is LlamaCppFileType.IQ4_NL or LlamaCppFileType.IQ4_XS && !hasImatrix) type = GgmlType.Q5_K;
                else if (f == LlamaCppFileType.Q5_K_M && UseMoreBits(i, n)) type = GgmlType.Q6_K;
                else if (f == LlamaCppFileType.Q4_K_S && i < n / 8) type = GgmlType.Q5_K;
                // With an imatrix the first ffn_down layers of Q4_0/Q5_0 get the offset variant (without one, llama.cpp
                // keeps the historical mix so that files stay reproducible).
                else if (f is LlamaCppFileType.Q4_0 or LlamaCppFileType.Q5_0 && hasImatrix && i < n / 8)
                    type = f == LlamaCppFileType.Q4_0 ? GgmlType.Q4_1 : GgmlType.Q5_1;
                c.FfnDown++;
                return type;
            }
            case Category.AttentionOutput:
                if (shape.NumExperts == 8)
                    return f is LlamaCppFileType.Q2_K or LlamaCppFileType.Q3_K_S or LlamaCppFileType.Q3_K_M or LlamaCppFileType.IQ4_NL
                        or LlamaCppFileType.Q4_K_S or LlamaCppFileType.Q4_K_M or LlamaCppFileType.IQ4_XS ? GgmlType.Q5_K : type;
                return f switch
                {
                    LlamaCppFileType.Q2_K => GgmlType.Q3_K,
                    LlamaCppFileType.Q3_K_M => GgmlType.Q4_K,
                    LlamaCppFileType.Q3_K_L => GgmlType.Q5_K,
                    _ => type,
                };
            case Category.AttentionQkv:
                return f switch
                {
                    LlamaCppFileType.Q3_K_M or LlamaCppFileType.Q3_K_L => GgmlType.Q4_K,
                    LlamaCppFileType.Q4_K_M => GgmlType.Q5_K,
                    LlamaCppFileType.Q5_K_M => GgmlType.Q6_K,
                    _ => type,
                };
            case Category.FfnGate:
                LayerOf(t.Name, c.FfnGate++, c.LayerTotal, shape); // only the i-quant mixes change ffn_gate; the name is still checked
                return type;
            case Category.FfnUp:
                LayerOf(t.Name, c.FfnUp++, c.LayerTotal, shape);
                return type;
            default:
                return type;
        }
    }

    // layer_info: dense models count tensors; MoE models read the block number from the name (experts are not in order).
    private static (int Layer, int Layers) LayerOf(string name, int counter, int layers, MixModelShape shape)
    {
        if (shape.NumExperts <= 1) return (counter, layers);
        int layer = BlockNumber(name);
        if (layer < 0) throw new InvalidDataException($"cannot determine the block number of tensor {name}");
        if (layer >= layers) throw new InvalidDataException($"tensor {name}: block {layer} is outside [0, {layers})");
        return (layer, layers);
    }

    private static bool IsAttentionVLike(Category c) => c is Category.AttentionV or Category.AttentionQkv;

    private static Category Classify(string name)
    {
        if (name == "output.weight") return Category.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return Category.TokenEmbedding;
        // The same substring tests as llama.cpp, in its order (attn_kv_b counts as attn_v there).
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal)) return Category.AttentionQkv;
        if (name.Contains("attn_kv_b.weight", StringComparison.Ordinal)) return Category.AttentionV;
        if (name.Contains("attn_v.weight", StringComparison.Ordinal)) return Category.AttentionV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return Category.AttentionK;
        if (name.Contains("attn_q.weight", StringComparison.Ordinal)) return Category.AttentionQ;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return Category.AttentionOutput;
        if (name.Contains("ffn_up", StringComparison.Ordinal)) return Category.FfnUp;
        if (name.Contains("ffn_gate", StringComparison.Ordinal)) return Category.FfnGate;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return Category.FfnDown;
        return Category.Other;
    }

    // llama_model_loader's weight order: tensors outside blocks first, then by block number, then by name.
    private static int CompareLikeLlamaCpp(string a, string b)
    {
        int la = BlockNumber(a), lb = BlockNumber(b);
        return la != lb ? la.CompareTo(lb) : string.CompareOrdinal(a, b);
    }

    /// <summary>The N of a "blk.N." name; -1 for tensors outside the blocks.</summary>
    private static int BlockNumber(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int end = name.IndexOf('.', 4);
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1;
    }
}
