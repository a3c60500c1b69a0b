// llama.cpp's named quantization file types (enum llama_ftype, b8390) whose block types QuantSharp writes.
namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// The llama_ftype of a quantized GGUF (its general.file_type): a named mix of block types such as
/// Q4_K_M. Values are llama.h's ids, so a file written with one reads back as the same name in
/// llama.cpp. Only the types whose block formats QuantSharp has are listed.
/// </summary>
public enum LlamaCppFileType
{
    /// <summary>Mostly Q4_0.</summary>
    Q4_0 = 2,
    /// <summary>Mostly Q4_1.</summary>
    Q4_1 = 3,
    /// <summary>Mostly Q8_0.</summary>
    Q8_0 = 7,
    /// <summary>Mostly Q5_0.</summary>
    Q5_0 = 8,
    /// <summary>Mostly Q5_1.</summary>
    Q5_1 = 9,
    /// <summary>Q2_K with Q3_K/Q4_K for attn_v, ffn_down and attn_output.</summary>
    Q2_K = 10,
    /// <summary>Q3_K small: Q3_K nearly everywhere.</summary>
    Q3_K_S = 11,
    /// <summary>Q3_K medium.</summary>
    Q3_K_M = 12,
    /// <summary>Q3_K large.</summary>
    Q3_K_L = 13,
    /// <summary>Q4_K small.</summary>
    Q4_K_S = 14,
    /// <summary>Q4_K medium.</summary>
    Q4_K_M = 15,
    /// <summary>Q5_K small.</summary>
    Q5_K_S = 16,
    /// <summary>Q5_K medium.</summary>
    Q5_K_M = 17,
    /// <summary>Mostly Q6_K.</summary>
    Q6_K = 18,
    /// <summary>Q2_K small (needs an importance matrix).</summary>
    Q2_K_S = 21,
    /// <summary>Mostly IQ4_NL.</summary>
    IQ4_NL = 25,
    /// <summary>Mostly IQ4_XS.</summary>
    IQ4_XS = 30,
}
