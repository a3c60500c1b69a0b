// ggml's identifiers for the block types under test: type ids for ggml_quantize_chunk, names for dequantize_row_*.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Tests.Quantization;

/// <summary>Maps our <see cref="DType"/> to ggml's enum value and function-name suffix.</summary>
public static class GgmlTypes
{
    /// <summary>GGML_TYPE_* value (ggml.h).</summary>
    public static int Id(DType t) => t switch
    {
        DType.Q4_0 => 2,
        DType.Q4_1 => 3,
        DType.Q5_0 => 6,
        DType.Q5_1 => 7,
        DType.Q8_0 => 8,
        DType.IQ4_NL => 20,
        DType.IQ4_XS => 23,
        DType.MXFP4 => 39,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no ggml id mapped"),
    };

    /// <summary>Suffix of ggml's dequantize_row_* for the type.</summary>
    public static string Name(DType t) => t switch
    {
        DType.Q4_0 => "q4_0",
        DType.Q4_1 => "q4_1",
        DType.Q5_0 => "q5_0",
        DType.Q5_1 => "q5_1",
        DType.Q8_0 => "q8_0",
        DType.IQ4_NL => "iq4_nl",
        DType.IQ4_XS => "iq4_xs",
        DType.MXFP4 => "mxfp4",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no ggml name mapped"),
    };
}
