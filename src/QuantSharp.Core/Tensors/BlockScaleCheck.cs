// Finds quantized blocks whose scale fields are Inf/NaN: where each ggml block type keeps its fp16 (or fp32, E8M0) scales.
using System.Buffers.Binary;

namespace QuantSharp.Core.Tensors;

/// <summary>
/// Checks the scale fields of ggml block-quantized data: every fp16 <c>d</c> and <c>dmin</c> (or
/// fp32 <c>d</c> of Q8_K, E8M0 exponent of MXFP4) must be finite. A finite input can still give an
/// infinite scale (a bf16 weight of 3.4e38 divided by 127 is far above fp16's 65504), and such a
/// block makes every weight it holds NaN or ±Inf when dequantized, in llama.cpp as here. Quantizers
/// call <see cref="ThrowIfNonFinite"/> on the blocks they produce; loaders call it on quantized
/// tensors (it reads only the scale bytes: 2–4 bytes per 18–292-byte block).
/// </summary>
public static class BlockScaleCheck
{
    /// <summary>A block type's scale fields: byte offsets within the block and their encoding.</summary>
    private readonly record struct Field(int Offset, string Name, FieldKind Kind);

    private enum FieldKind { Fp16, Fp32, E8M0 }

    // Offsets from ggml-common.h (build b8390): the fp16 d of the legacy types and IQ4_NL/IQ4_XS
    // comes first; Q4_1/Q5_1 and Q4_K/Q5_K put m/dmin right after it; Q2_K, Q3_K and Q6_K end with them.
    private static Field[] FieldsOf(DType type) => type switch
    {
        DType.Q4_0 or DType.Q5_0 or DType.Q8_0 or DType.IQ4_NL or DType.IQ4_XS => [new(0, "d", FieldKind.Fp16)],
        DType.Q4_1 or DType.Q5_1 => [new(0, "d", FieldKind.Fp16), new(2, "m", FieldKind.Fp16)],
        DType.Q4_K or DType.Q5_K => [new(0, "d", FieldKind.Fp16), new(2, "dmin", FieldKind.Fp16)],
        DType.Q2_K => [new(80, "d", FieldKind.Fp16), new(82, "dmin", FieldKind.Fp16)],
        DType.Q3_K => [new(108, "d", FieldKind.Fp16)],
        DType.Q6_K => [new(208, "d", FieldKind.Fp16)],
        DType.Q8_K => [new(0, "d", FieldKind.Fp32)],
        DType.MXFP4 => [new(0, "e", FieldKind.E8M0)],
        _ => [],
    };

    /// <summary>Whether <paramref name="type"/> is a block type whose scales this check knows.</summary>
    public static bool Knows(DType type) => FieldsOf(type).Length > 0;

    /// <summary>
    /// The first block of <paramref name="blocks"/> (whole blocks of <paramref name="type"/>) with a
    /// non-finite scale field: its index, the field's name and its value as a float; Index −1 when
    /// every scale is finite or the type has no known scale fields.
    /// </summary>
    public static (long Index, string Field, float Value) FirstNonFinite(DType type, ReadOnlySpan<byte> blocks)
    {
        var fields = FieldsOf(type);
        if (fields.Length == 0) return (-1, "", 0);
        int blockBytes = DTypeInfo.BlockBytes(type);
        if (blocks.Length % blockBytes != 0)
            throw new ArgumentException($"{type}: {blocks.Length} bytes are not a whole number of {blockBytes}-byte blocks", nameof(blocks));
        long count = blocks.Length / blockBytes;
        for (long b = 0; b < count; b++)
        {
            var block = blocks.Slice((int)(b * blockBytes), blockBytes);
            foreach (var f in fields)
            {
                switch (f.Kind)
                {
                    case FieldKind.Fp16:
                        ushort h = BinaryPrimitives.ReadUInt16LittleEndian(block[f.Offset..]);
                        if ((h & 0x7C00) == 0x7C00) return (b, f.Name, (float)BitConverter.UInt16BitsToHalf(h));
                        break;
                    case FieldKind.Fp32:
                        uint x = BinaryPrimitives.ReadUInt32LittleEndian(block[f.Offset..]);
                        if ((x & 0x7F800000u) == 0x7F800000u) return (b, f.Name, BitConverter.UInt32BitsToSingle(x));
                        break;
                    case FieldKind.E8M0:
                        // 0xFF is NaN in OCP E8M0; ggml decodes it as 2^127, which overflows with any code above 1.
                        if (block[f.Offset] == 0xFF) return (b, f.Name, float.NaN);
                        break;
                }
            }
        }
        return (-1, "", 0);
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> naming <paramref name="what"/> (a tensor, "file: tensor
    /// 'x'"), the block, the field and its value when a block of <paramref name="blocks"/> has a
    /// non-finite scale. <paramref name="blocksPerRow"/> &gt; 0 also names the row and block within it.
    /// </summary>
    public static void ThrowIfNonFinite(DType type, ReadOnlySpan<byte> blocks, string what, long blocksPerRow = 0)
    {
        var (index, field, value) = FirstNonFinite(type, blocks);
        if (index < 0) return;
        string where = blocksPerRow > 0 ? $"row {index / blocksPerRow}, block {index % blocksPerRow} (block {index} overall)" : $"block {index}";
        throw new InvalidDataException(
            $"{what}: {type} {where} has scale {field} = {value}; scales must be finite (a weight too large for the block format's fp16 scale, or corrupt data)");
    }
}
