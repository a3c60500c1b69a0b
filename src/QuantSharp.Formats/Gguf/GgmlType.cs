// ggml's tensor element types with the numeric ids GGUF files store (ggml.h, enum ggml_type).
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// A ggml tensor type. The numeric values are the ids written into GGUF tensor infos and must
/// never be renumbered. Gaps are ids ggml has retired (Q4_2, Q4_3, the Q4_0_x_y and IQ4_NL_x_y
/// repack types); readers reject them like any other unknown id.
/// </summary>
public enum GgmlType : uint
{
    /// <summary>IEEE binary32.</summary>
    F32 = 0,
    /// <summary>IEEE binary16.</summary>
    F16 = 1,
    /// <summary>4-bit, 32-element blocks, one fp16 scale.</summary>
    Q4_0 = 2,
    /// <summary>4-bit, 32-element blocks, fp16 scale and minimum.</summary>
    Q4_1 = 3,
    /// <summary>5-bit, 32-element blocks, one fp16 scale.</summary>
    Q5_0 = 6,
    /// <summary>5-bit, 32-element blocks, fp16 scale and minimum.</summary>
    Q5_1 = 7,
    /// <summary>8-bit, 32-element blocks, one fp16 scale.</summary>
    Q8_0 = 8,
    /// <summary>8-bit, 32-element blocks, fp16 scale and sum (activation type).</summary>
    Q8_1 = 9,
    /// <summary>2-bit k-quant, 256-element super-blocks.</summary>
    Q2_K = 10,
    /// <summary>3-bit k-quant.</summary>
    Q3_K = 11,
    /// <summary>4-bit k-quant.</summary>
    Q4_K = 12,
    /// <summary>5-bit k-quant.</summary>
    Q5_K = 13,
    /// <summary>6-bit k-quant.</summary>
    Q6_K = 14,
    /// <summary>8-bit k-quant (activation type for k-quant dot products).</summary>
    Q8_K = 15,
    /// <summary>i-quant, 2.06 bits per weight.</summary>
    IQ2_XXS = 16,
    /// <summary>i-quant, 2.31 bits per weight.</summary>
    IQ2_XS = 17,
    /// <summary>i-quant, 3.06 bits per weight.</summary>
    IQ3_XXS = 18,
    /// <summary>i-quant, 1.56 bits per weight.</summary>
    IQ1_S = 19,
    /// <summary>4-bit non-linear, 32-element blocks.</summary>
    IQ4_NL = 20,
    /// <summary>i-quant, 3.44 bits per weight.</summary>
    IQ3_S = 21,
    /// <summary>i-quant, 2.5 bits per weight.</summary>
    IQ2_S = 22,
    /// <summary>4-bit non-linear, 256-element super-blocks.</summary>
    IQ4_XS = 23,
    /// <summary>Signed 8-bit integer.</summary>
    I8 = 24,
    /// <summary>Signed 16-bit integer.</summary>
    I16 = 25,
    /// <summary>Signed 32-bit integer.</summary>
    I32 = 26,
    /// <summary>Signed 64-bit integer.</summary>
    I64 = 27,
    /// <summary>IEEE binary64.</summary>
    F64 = 28,
    /// <summary>i-quant, 1.75 bits per weight.</summary>
    IQ1_M = 29,
    /// <summary>bfloat16.</summary>
    BF16 = 30,
    /// <summary>Ternary, 1.69 bits per weight.</summary>
    TQ1_0 = 34,
    /// <summary>Ternary, 2.06 bits per weight.</summary>
    TQ2_0 = 35,
    /// <summary>OCP microscaling fp4, 32-element blocks with an e8m0 scale.</summary>
    MXFP4 = 39,
    /// <summary>NVIDIA fp4, 64-element blocks with four e4m3 sub-block scales.</summary>
    NVFP4 = 40,
}
