// A weight's role and layer in llama.cpp's words, from a GGUF tensor name or a decoder layer's linear.
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Reporting;

/// <summary>Names the role of a weight matrix the way llama.cpp's GGUF names do (attn_q, ffn_down, token_embd, output, …).</summary>
public static class TensorKinds
{
    /// <summary>The role of a decoder layer's linear (experts' gate/up/down have the dense names; the record carries the expert).</summary>
    public static string Of(LlamaLinear linear) => linear switch
    {
        LlamaLinear.Q => "attn_q",
        LlamaLinear.K => "attn_k",
        LlamaLinear.V => "attn_v",
        LlamaLinear.O => "attn_output",
        LlamaLinear.Gate => "ffn_gate",
        LlamaLinear.Up => "ffn_up",
        LlamaLinear.Down => "ffn_down",
        _ => linear.ToString(),
    };

    /// <summary>
    /// (role, layer) of a GGUF tensor name: <c>blk.3.attn_q.weight</c> → (attn_q, 3), <c>blk.0.ffn_gate_exps.weight</c>
    /// → (ffn_gate, 0), <c>token_embd.weight</c> → (token_embd, null).
    /// </summary>
    public static (string Kind, int? Layer) FromGgufName(string name)
    {
        string stem = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : name;
        if (stem.StartsWith("blk.", StringComparison.Ordinal))
        {
            int dot = stem.IndexOf('.', 4);
            if (dot > 4 && int.TryParse(stem.AsSpan(4, dot - 4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int layer))
            {
                string kind = stem[(dot + 1)..];
                if (kind.EndsWith("_exps", StringComparison.Ordinal)) kind = kind[..^"_exps".Length];
                return (kind, layer);
            }
        }
        return (stem, null);
    }
}
