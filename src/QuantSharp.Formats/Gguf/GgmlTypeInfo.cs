// Block geometry of every ggml type, and the byte-size arithmetic built on it.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// How a <see cref="GgmlType"/> lays out elements: <see cref="BlockSize"/> consecutive elements of
/// a row are stored in <see cref="BytesPerBlock"/> bytes. Dense types have a block of one element.
/// The numbers are those of ggml's type_traits (ggml.c / ggml-common.h, build b8390).
/// </summary>
public readonly record struct GgmlTypeInfo(GgmlType Type, string Name, int BlockSize, int BytesPerBlock)
{
    // QK_K: the super-block length of k-quants and most i-quants.
    private const int K = 256;

    private static readonly Dictionary<GgmlType, GgmlTypeInfo> Table = new GgmlTypeInfo[]
    {
        new(GgmlType.F32, "f32", 1, 4),
        new(GgmlType.F16, "f16", 1, 2),
        new(GgmlType.Q4_0, "q4_0", 32, 2 + 16),
        new(GgmlType.Q4_1, "q4_1", 32, 4 + 16),
        new(GgmlType.Q5_0, "q5_0", 32, 2 + 4 + 16),
        new(GgmlType.Q5_1, "q5_1", 32, 4 + 4 + 16),
        new(GgmlType.Q8_0, "q8_0", 32, 2 + 32),
        new(GgmlType.Q8_1, "q8_1", 32, 4 + 32),
        new(GgmlType.Q2_K, "q2_K", K, 4 + K / 16 + K / 4),
        new(GgmlType.Q3_K, "q3_K", K, 2 + K / 4 + K / 8 + 12),
        new(GgmlType.Q4_K, "q4_K", K, 4 + 12 + K / 2),
        new(GgmlType.Q5_K, "q5_K", K, 4 + 12 + K / 2 + K / 8),
        new(GgmlType.Q6_K, "q6_K", K, 2 + K / 16 + 3 * K / 4),
        new(GgmlType.Q8_K, "q8_K", K, 4 + K + K / 16 * 2),
        new(GgmlType.IQ2_XXS, "iq2_xxs", K, 2 + K / 8 * 2),
        new(GgmlType.IQ2_XS, "iq2_xs", K, 2 + K / 8 * 2 + K / 32),
        new(GgmlType.IQ3_XXS, "iq3_xxs", K, 2 + 3 * (K / 8)),
        new(GgmlType.IQ1_S, "iq1_s", K, 2 + K / 8 + K / 16),
        new(GgmlType.IQ4_NL, "iq4_nl", 32, 2 + 16),
        new(GgmlType.IQ3_S, "iq3_s", K, 2 + 13 * (K / 32) + K / 64),
        new(GgmlType.IQ2_S, "iq2_s", K, 2 + K / 4 + K / 16),
        new(GgmlType.IQ4_XS, "iq4_xs", K, 2 + 2 + K / 64 + K / 2),
        new(GgmlType.I8, "i8", 1, 1),
        new(GgmlType.I16, "i16", 1, 2),
        new(GgmlType.I32, "i32", 1, 4),
        new(GgmlType.I64, "i64", 1, 8),
        new(GgmlType.F64, "f64", 1, 8),
        new(GgmlType.IQ1_M, "iq1_m", K, K / 8 + K / 16 + K / 32),
        new(GgmlType.BF16, "bf16", 1, 2),
        new(GgmlType.TQ1_0, "tq1_0", K, 2 + K / 64 + (K - 4 * K / 64) / 5),
        new(GgmlType.TQ2_0, "tq2_0", K, 2 + K / 4),
        new(GgmlType.MXFP4, "mxfp4", 32, 1 + 16),
        new(GgmlType.NVFP4, "nvfp4", 64, 64 / 16 + 32),
    }.ToDictionary(i => i.Type);

    /// <summary>Every type ggml defines, in id order.</summary>
    public static IReadOnlyList<GgmlTypeInfo> All { get; } = Table.Values.OrderBy(i => (uint)i.Type).ToArray();

    /// <summary>Whether the type stores elements in multi-element blocks (anything quantized).</summary>
    public bool IsBlockQuantized => BlockSize > 1;

    /// <summary>Whether <paramref name="id"/> is a type id ggml defines.</summary>
    public static bool IsKnown(uint id) => Table.ContainsKey((GgmlType)id);

    /// <summary>The facts about <paramref name="type"/>; throws for an id ggml does not define.</summary>
    public static GgmlTypeInfo Of(GgmlType type)
        => Table.TryGetValue(type, out var info)
            ? info
            : throw new ArgumentOutOfRangeException(nameof(type), (uint)type, "not a ggml type id");

    /// <summary>
    /// Bytes of one row of <paramref name="elements"/> elements. Throws when the row does not split
    /// into whole blocks, since ggml cannot store a partial block.
    /// </summary>
    public long RowByteSize(long elements)
    {
        if (elements < 0) throw new ArgumentOutOfRangeException(nameof(elements), elements, "negative row length");
        if (elements % BlockSize != 0)
            throw new ArgumentException($"a {Name} row of {elements} elements is not a multiple of the block size {BlockSize}", nameof(elements));
        return checked(elements / BlockSize * BytesPerBlock);
    }

    /// <summary>
    /// Bytes of a whole tensor given its GGUF dimensions (innermost first: <paramref name="ne"/>[0]
    /// is the row length). Throws <see cref="OverflowException"/> when the size does not fit a long.
    /// </summary>
    public long TensorByteSize(ReadOnlySpan<long> ne)
    {
        if (ne.Length == 0) return BytesPerBlock == 0 ? 0 : RowByteSize(1);
        long rows = 1;
        for (int i = 1; i < ne.Length; i++) rows = checked(rows * ne[i]);
        return checked(RowByteSize(ne[0]) * rows);
    }

    /// <summary>The <see cref="DType"/> our kernels know this type as (dense or block-quantized), or null.</summary>
    public DType? CoreType => Type switch
    {
        GgmlType.Q4_0 => DType.Q4_0,
        GgmlType.Q4_1 => DType.Q4_1,
        GgmlType.Q5_0 => DType.Q5_0,
        GgmlType.Q5_1 => DType.Q5_1,
        GgmlType.Q8_0 => DType.Q8_0,
        GgmlType.Q2_K => DType.Q2_K,
        GgmlType.Q3_K => DType.Q3_K,
        GgmlType.Q4_K => DType.Q4_K,
        GgmlType.Q5_K => DType.Q5_K,
        GgmlType.Q6_K => DType.Q6_K,
        GgmlType.Q8_K => DType.Q8_K,
        GgmlType.IQ4_NL => DType.IQ4_NL,
        GgmlType.IQ4_XS => DType.IQ4_XS,
        GgmlType.MXFP4 => DType.MXFP4,

        GgmlType.F32 => DType.F32,
        GgmlType.F16 => DType.F16,
        GgmlType.BF16 => DType.BF16,
        GgmlType.F64 => DType.F64,
        GgmlType.I8 => DType.I8,
        GgmlType.I16 => DType.I16,
        GgmlType.I32 => DType.I32,
        GgmlType.I64 => DType.I64,
        _ => null,
    };

    /// <summary>The ggml type that stores <paramref name="dtype"/>, if any.</summary>
    public static GgmlType? FromDType(DType dtype) => dtype switch
    {
        DType.F32 => GgmlType.F32,
        DType.F16 => GgmlType.F16,
        DType.BF16 => GgmlType.BF16,
        DType.F64 => GgmlType.F64,
        DType.I8 => GgmlType.I8,
        DType.I16 => GgmlType.I16,
        DType.I32 => GgmlType.I32,
        DType.I64 => GgmlType.I64,
        DType.Q4_0 => GgmlType.Q4_0,
        DType.Q4_1 => GgmlType.Q4_1,
        DType.Q5_0 => GgmlType.Q5_0,
        DType.Q5_1 => GgmlType.Q5_1,
        DType.Q8_0 => GgmlType.Q8_0,
        DType.Q2_K => GgmlType.Q2_K,
        DType.Q3_K => GgmlType.Q3_K,
        DType.Q4_K => GgmlType.Q4_K,
        DType.Q5_K => GgmlType.Q5_K,
        DType.Q6_K => GgmlType.Q6_K,
        DType.Q8_K => GgmlType.Q8_K,
        DType.IQ4_NL => GgmlType.IQ4_NL,
        DType.IQ4_XS => GgmlType.IQ4_XS,
        DType.MXFP4 => GgmlType.MXFP4,
        _ => null,
    };
}
