// Quantizes whole tensors (many rows) with a block format, in parallel over rows.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Tensor-level entry point for the block formats: checks the whole input once, then quantizes
/// rows in parallel. Every row is quantized independently with the same code as
/// <see cref="IBlockFormat.QuantizeRow"/>, so the output does not depend on the thread count.
/// </summary>
public static class BlockQuantizer
{
    /// <summary>Values per parallel work item: small rows are batched so scheduling stays cheap.</summary>
    private const int ValuesPerWorkItem = 1 << 16;

    /// <summary>Quantizes rows with the registered format for <paramref name="type"/>.</summary>
    public static void QuantizeRows(DType type, ReadOnlySpan<float> rows, int rowLength, Span<byte> destination, ReadOnlySpan<float> importance = default) =>
        QuantizeRows(BlockFormatRegistry.Get(type), rows, rowLength, destination, importance, null);

    /// <summary>Quantizes rows with the registered format for <paramref name="type"/>; errors name <paramref name="tensorName"/>.</summary>
    public static void QuantizeRows(DType type, ReadOnlySpan<float> rows, int rowLength, Span<byte> destination, ReadOnlySpan<float> importance, string? tensorName) =>
        QuantizeRows(BlockFormatRegistry.Get(type), rows, rowLength, destination, importance, tensorName);

    /// <summary>Quantizes rows with <paramref name="format"/> (see the overload with a tensor name).</summary>
    public static void QuantizeRows(IBlockFormat format, ReadOnlySpan<float> rows, int rowLength, Span<byte> destination, ReadOnlySpan<float> importance = default) =>
        QuantizeRows(format, rows, rowLength, destination, importance, null);

    /// <summary>
    /// Quantizes <paramref name="rows"/> (row-major, <paramref name="rowLength"/> values per row)
    /// into <paramref name="destination"/> (rows × row bytes). <paramref name="importance"/> is
    /// empty or one weight per column, shared by every row (an imatrix entry for this tensor).
    /// The blocks written are checked: a scale that came out non-finite (finite weights too large
    /// for an fp16 scale) throws <see cref="InvalidDataException"/> naming <paramref name="tensorName"/>,
    /// the row and the block, instead of producing a file whose weights dequantize to Inf/NaN.
    /// </summary>
    public static unsafe void QuantizeRows(IBlockFormat format, ReadOnlySpan<float> rows, int rowLength, Span<byte> destination, ReadOnlySpan<float> importance, string? tensorName)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (rowLength <= 0) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "row length must be positive");
        if (rows.Length % rowLength != 0)
            throw new ArgumentException($"{rows.Length} values are not a whole number of rows of {rowLength}", nameof(rows));
        int rowCount = rows.Length / rowLength;
        if (rowLength % format.BlockSize != 0)
            throw new ArgumentException($"{format.Type}: a row of {rowLength} values is not a multiple of the block size {format.BlockSize}", nameof(rowLength));
        int rowBytes = rowLength / format.BlockSize * format.BlockBytes;
        if (destination.Length != (long)rowCount * rowBytes)
            throw new ArgumentException($"{format.Type}: {rowCount} rows of {rowLength} values need {(long)rowCount * rowBytes} bytes, the destination holds {destination.Length}", nameof(destination));
        if (!importance.IsEmpty && importance.Length != rowLength)
            throw new ArgumentException($"{format.Type}: importance has {importance.Length} weights but rows have {rowLength} values (one weight per column, or none)", nameof(importance));
        if (rowCount == 0) return;

        // Values no fp16 scale can hold are refused before the searches overflow on them.
        BlockFormatBase.CheckRepresentable(format.Type, format.BlockSize, rows, rowLength, tensorName);
        if (format is not BlockFormatBase ours)
        {
            // A foreign implementation: its own QuantizeRow does the checking.
            for (int r = 0; r < rowCount; r++)
            {
                if (format is KQuantFormat k)
                    k.QuantizeRow(rows.Slice(r * rowLength, rowLength), destination.Slice(r * rowBytes, rowBytes), importance, tensorName, r);
                else
                    format.QuantizeRow(rows.Slice(r * rowLength, rowLength), destination.Slice(r * rowBytes, rowBytes), importance);
            }
            BlockScaleCheck.ThrowIfNonFinite(format.Type, destination, tensorName ?? $"{format.Type} rows", rowLength / format.BlockSize);
            return;
        }

        // Checked up front on the caller's thread so a bad value surfaces as a plain ArgumentException.
        BlockFormatBase.CheckFinite(rows, "row", 0);
        BlockFormatBase.CheckImportance(importance);

        int rowsPerItem = Math.Max(1, ValuesPerWorkItem / rowLength);
        int items = (rowCount + rowsPerItem - 1) / rowsPerItem;
        fixed (float* src = rows)
        fixed (byte* dst = destination)
        fixed (float* imp = importance)
        {
            // Spans cannot cross into the lambda; the pinned addresses can.
            nint srcAddress = (nint)src, dstAddress = (nint)dst, impAddress = (nint)imp;
            int impLength = importance.Length;
            ScopedParallel.For(0, items, item =>
            {
                int first = item * rowsPerItem;
                int last = Math.Min(rowCount, first + rowsPerItem);
                var imp = new ReadOnlySpan<float>((float*)impAddress, impLength);
                for (int r = first; r < last; r++)
                {
                    var row = new ReadOnlySpan<float>((float*)srcAddress + (long)r * rowLength, rowLength);
                    var output = new Span<byte>((byte*)dstAddress + (long)r * rowBytes, rowBytes);
                    ours.QuantizeRowUnchecked(row, output, imp);
                }
            });
        }
        // Reads 2–4 bytes per block: negligible next to the quantization itself.
        BlockScaleCheck.ThrowIfNonFinite(format.Type, destination, tensorName ?? $"{format.Type} rows", rowLength / format.BlockSize);
    }
}
