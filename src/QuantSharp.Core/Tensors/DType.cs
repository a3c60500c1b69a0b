// Element types of dense tensors as they appear in model files.
namespace QuantSharp.Core.Tensors;

/// <summary>Element type of a dense (non block-quantized) tensor.</summary>
public enum DType
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,
    /// <summary>IEEE 754 binary16.</summary>
    F16,
    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BF16,
    /// <summary>IEEE 754 binary64 (seen in some checkpoints' metadata tensors).</summary>
    F64,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Boolean stored as one byte.</summary>
    Bool,

    // Block-quantized types, laid out exactly as ggml's (ggml-common.h); rows hold whole blocks.
    /// <summary>ggml Q4_0: 32 weights, fp16 scale, 4-bit.</summary>
    Q4_0,
    /// <summary>ggml Q4_1: 32 weights, fp16 scale and min, 4-bit.</summary>
    Q4_1,
    /// <summary>ggml Q5_0: 32 weights, fp16 scale, 5-bit.</summary>
    Q5_0,
    /// <summary>ggml Q5_1: 32 weights, fp16 scale and min, 5-bit.</summary>
    Q5_1,
    /// <summary>ggml Q8_0: 32 weights, fp16 scale, int8.</summary>
    Q8_0,
    /// <summary>ggml Q2_K: 256-weight super-block.</summary>
    Q2_K,
    /// <summary>ggml Q3_K: 256-weight super-block.</summary>
    Q3_K,
    /// <summary>ggml Q4_K: 256-weight super-block.</summary>
    Q4_K,
    /// <summary>ggml Q5_K: 256-weight super-block.</summary>
    Q5_K,
    /// <summary>ggml Q6_K: 256-weight super-block.</summary>
    Q6_K,
    /// <summary>ggml Q8_K: 256 weights, fp32 scale, int8 and block sums (activations).</summary>
    Q8_K,
    /// <summary>ggml IQ4_NL: 32 weights, fp16 scale, 4-bit indices into a non-uniform table.</summary>
    IQ4_NL,
    /// <summary>ggml IQ4_XS: 256-weight super-block of IQ4_NL-style values with 6-bit sub-scales.</summary>
    IQ4_XS,
    /// <summary>ggml MXFP4 (OCP microscaling FP4): 32 E2M1 weights sharing one E8M0 power-of-two scale.</summary>
    MXFP4,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypeInfo
{
    /// <summary>Size of one element in bytes (dense types only; see <see cref="BlockBytes"/>).</summary>
    public static int SizeOf(DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.F64 or DType.I64 => 8,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a dense dtype (block-quantized types have no per-element size)"),
    };

    /// <summary>Whether the type stores weights in blocks with shared scales.</summary>
    public static bool IsBlockQuantized(DType t) => t >= DType.Q4_0;

    /// <summary>Weights per block (1 for dense types).</summary>
    public static int BlockSize(DType t) => t switch
    {
        DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1 or DType.Q8_0 or DType.IQ4_NL or DType.MXFP4 => 32,
        DType.Q2_K or DType.Q3_K or DType.Q4_K or DType.Q5_K or DType.Q6_K or DType.Q8_K or DType.IQ4_XS => 256,
        _ => 1,
    };

    /// <summary>Bytes per block (the element size for dense types), as in ggml-common.h.</summary>
    public static int BlockBytes(DType t) => t switch
    {
        DType.Q4_0 => 18,
        DType.Q4_1 => 20,
        DType.Q5_0 => 22,
        DType.Q5_1 => 24,
        DType.Q8_0 => 34,
        DType.Q2_K => 84,
        DType.Q3_K => 110,
        DType.Q4_K => 144,
        DType.Q5_K => 176,
        DType.Q6_K => 210,
        DType.Q8_K => 292,
        DType.IQ4_NL => 18,
        DType.IQ4_XS => 136,
        DType.MXFP4 => 17,
        _ => SizeOf(t),
    };

    /// <summary>Bytes of a row of <paramref name="columns"/> values; throws when the row does not hold whole blocks.</summary>
    public static long RowBytes(DType t, long columns)
    {
        int bs = BlockSize(t);
        if (columns % bs != 0) throw new ArgumentException($"a row of {columns} values is not a whole number of {t} blocks of {bs}");
        return checked(columns / bs * BlockBytes(t));
    }

    /// <summary>Whether the type is a floating-point type our kernels compute with.</summary>
    public static bool IsFloat(DType t) => t is DType.F32 or DType.F16 or DType.BF16;
}
