// What the k-quant formats (Q2_K … Q8_K) share: 256-weight super-blocks, argument checks, fp16 fields.
using System.Buffers.Binary;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Base of the k-quant formats. Checks a row once, then hands each 256-weight super-block (and its
/// slice of the importance vector) to <see cref="QuantizeBlock"/>: every k-quant search in ggml is
/// local to one super-block, so a row is just its blocks in order.
/// </summary>
internal abstract class KQuantFormat : IBlockFormat
{
    /// <summary>Weights per super-block (ggml's QK_K).</summary>
    public const int SuperBlockSize = 256;

    /// <inheritdoc/>
    public abstract DType Type { get; }

    /// <inheritdoc/>
    public int BlockSize => SuperBlockSize;

    /// <inheritdoc/>
    public int BlockBytes => DTypeInfo.BlockBytes(Type);

    /// <inheritdoc/>
    public void QuantizeRow(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance = default)
        => QuantizeRow(row, destination, importance, null, -1);

    /// <summary>
    /// <see cref="QuantizeRow(ReadOnlySpan{float}, Span{byte}, ReadOnlySpan{float})"/>, with errors about
    /// unrepresentable values or overflowed scales naming <paramref name="tensorName"/> and row
    /// <paramref name="rowIndex"/> (−1: none), formatted only for an error.
    /// </summary>
    internal void QuantizeRow(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance, string? tensorName, int rowIndex)
    {
        string What() => $"{tensorName ?? $"{Type} rows"}{(rowIndex >= 0 ? $": row {rowIndex}" : "")}";
        if (row.Length % SuperBlockSize != 0)
            throw new ArgumentException($"{Type}: a row of {row.Length} values is not a whole number of {SuperBlockSize}-value blocks", nameof(row));
        int blocks = row.Length / SuperBlockSize;
        int bytes = BlockBytes;
        if (destination.Length != (long)blocks * bytes)
            throw new ArgumentException($"{Type}: a row of {row.Length} values takes {(long)blocks * bytes} bytes, the destination has {destination.Length}", nameof(destination));
        if (!importance.IsEmpty && importance.Length != row.Length)
            throw new ArgumentException($"{Type}: the importance vector has {importance.Length} weights for a row of {row.Length} values", nameof(importance));
        // ggml's searches silently turn NaN or Inf into garbage blocks; refuse them instead.
        int bad = FirstNonFinite(row);
        if (bad >= 0) throw new ArgumentException($"{Type}: row value {bad} is {row[bad]}; only finite values can be quantized", nameof(row));
        bad = FirstNonFinite(importance);
        if (bad >= 0) throw new ArgumentException($"{Type}: importance weight {bad} is {importance[bad]}; importance weights must be finite", nameof(importance));

        try { BlockFormatBase.CheckRepresentable(Type, SuperBlockSize, row, row.Length, null); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{What()}: {e.Message}", e); }

        for (int b = 0; b < blocks; b++)
        {
            var qw = importance.IsEmpty ? default : importance.Slice(b * SuperBlockSize, SuperBlockSize);
            QuantizeBlock(row.Slice(b * SuperBlockSize, SuperBlockSize), destination.Slice(b * bytes, bytes), qw);
        }
        // Finite inputs can still overflow an fp16 scale; such a block must not leave here.
        if (BlockScaleCheck.FirstNonFinite(Type, destination).Index >= 0) BlockScaleCheck.ThrowIfNonFinite(Type, destination, What());
    }

    /// <inheritdoc/>
    public void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
        => BlockDequantizer.DequantizeRow(Type, source, destination);

    /// <summary>
    /// Quantizes one super-block of 256 finite values into <paramref name="block"/> (BlockBytes long).
    /// <paramref name="importance"/> is empty (reference quantizer) or 256 weights (imatrix search).
    /// </summary>
    protected abstract void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance);

    /// <summary>
    /// Stores <paramref name="value"/> as a little-endian fp16 at <paramref name="offset"/> and returns
    /// what was stored, as ggml re-reads it (GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(v))). .NET's Half
    /// conversion rounds to nearest, ties to even, as F16C and ggml's software path do.
    /// </summary>
    protected static float StoreHalf(Span<byte> block, int offset, float value)
    {
        var h = (Half)value;
        BinaryPrimitives.WriteHalfLittleEndian(block.Slice(offset, 2), h);
        return (float)h;
    }

    /// <summary>The little-endian fp16 at <paramref name="offset"/> as fp32 (what the dequantizer reads).</summary>
    protected static float ReadHalf(ReadOnlySpan<byte> block, int offset) =>
        (float)BinaryPrimitives.ReadHalfLittleEndian(block.Slice(offset, 2));

    private static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
