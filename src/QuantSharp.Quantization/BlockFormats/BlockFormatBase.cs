// Shared argument checking and dequantization plumbing for the block formats.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Base of the block formats: validates arguments once, with messages that name the problem,
/// then hands the row to the format's quantizer. Dequantization is Core's (one implementation
/// of what the bytes mean, shared with the inference kernels).
/// </summary>
public abstract class BlockFormatBase : IBlockFormat
{
    /// <inheritdoc/>
    public abstract DType Type { get; }

    /// <inheritdoc/>
    public int BlockSize => DTypeInfo.BlockSize(Type);

    /// <inheritdoc/>
    public int BlockBytes => DTypeInfo.BlockBytes(Type);

    /// <inheritdoc/>
    public void QuantizeRow(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance = default)
    {
        CheckShapes(row.Length, destination.Length, importance.Length);
        CheckFinite(row, "row", 0);
        CheckImportance(importance);
        CheckRepresentable(Type, BlockSize, row, row.Length, null);
        QuantizeRowUnchecked(row, destination, importance);
        // Finite inputs can still overflow an fp16 scale; such a block must not leave here.
        BlockScaleCheck.ThrowIfNonFinite(Type, destination, $"{Type} row");
    }

    /// <inheritdoc/>
    public void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (source.Length % BlockBytes != 0)
            throw new ArgumentException($"{Type}: source holds {source.Length} bytes, not a whole number of {BlockBytes}-byte blocks", nameof(source));
        long values = (long)source.Length / BlockBytes * BlockSize;
        if (destination.Length != values)
            throw new ArgumentException($"{Type}: {source.Length} bytes dequantize to {values} values but the destination holds {destination.Length}", nameof(destination));
        BlockDequantizer.DequantizeRow(Type, source, destination);
    }

    /// <summary>
    /// Quantizes a row whose arguments are known to be valid (lengths match, values finite).
    /// <see cref="BlockQuantizer"/> calls this after checking a whole tensor once.
    /// </summary>
    internal abstract void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance);

    /// <summary>Throws unless a row of <paramref name="rowLength"/> values fits the block size, destination and importance.</summary>
    internal void CheckShapes(int rowLength, int destinationLength, int importanceLength)
    {
        if (rowLength % BlockSize != 0)
            throw new ArgumentException($"{Type}: a row of {rowLength} values is not a multiple of the block size {BlockSize}", "row");
        long expected = (long)rowLength / BlockSize * BlockBytes;
        if (destinationLength != expected)
            throw new ArgumentException($"{Type}: a row of {rowLength} values needs a destination of {expected} bytes, got {destinationLength}", "destination");
        if (importanceLength != 0 && importanceLength != rowLength)
            throw new ArgumentException($"{Type}: importance has {importanceLength} weights but the row has {rowLength} values (one weight per column, or none)", "importance");
    }

    /// <summary>Throws when <paramref name="values"/> holds a NaN or an infinity, naming its position.</summary>
    internal static void CheckFinite(ReadOnlySpan<float> values, string what, long offset)
    {
        int i = FiniteCheck.FirstNonFinite(values);
        if (i >= 0)
            throw new ArgumentException($"{what} value {offset + i} is {values[i]}: block quantization needs finite inputs", what);
    }

    // 2^32: far above the largest value any fp16-scaled block can hold (Q6_K's 65504 × 127 × 32 ≈ 2.7e8),
    // low enough that squares and block sums of squares stay finite in fp32. Above it, the scale
    // searches overflow and either write an Inf scale or silently zero the block (Q3_K, Q6_K).
    private const float MaxFp16ScaledMagnitude = 4294967296f;

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> naming <paramref name="what"/>, the row and the block
    /// when a value is too large for <paramref name="type"/>'s fp16 scales to represent at all
    /// (a finite bf16 weight of 3.4e38, say). Types with fp32 or exponent scales (Q8_K, MXFP4) pass.
    /// </summary>
    internal static void CheckRepresentable(DType type, int blockSize, ReadOnlySpan<float> values, int rowLength, string? what)
    {
        if (type is DType.Q8_K or DType.MXFP4 || !BlockScaleCheck.Knows(type)) return;
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var limit = new System.Numerics.Vector<float>(MaxFp16ScaledMagnitude);
            int n = System.Numerics.Vector<float>.Count;
            for (; i <= values.Length - n; i += n)
                if (System.Numerics.Vector.GreaterThanAny(System.Numerics.Vector.Abs(new System.Numerics.Vector<float>(values.Slice(i))), limit)) break;
        }
        for (; i < values.Length; i++)
        {
            if (Math.Abs(values[i]) > MaxFp16ScaledMagnitude)
            {
                int row = i / rowLength, column = i % rowLength;
                throw new InvalidDataException(
                    $"{what ?? $"{type} rows"}: row {row}, block {column / blockSize}: value {values[i]} (column {column}) is too large for {type}, whose fp16 scales cannot exceed 65504; the weights are broken or need a float type");
            }
        }
    }

    /// <summary>Throws when an importance weight is negative, NaN or infinite (imatrix entries are means of squares).</summary>
    internal static void CheckImportance(ReadOnlySpan<float> importance)
    {
        for (int i = 0; i < importance.Length; i++)
        {
            float w = importance[i];
            if (!float.IsFinite(w) || w < 0)
                throw new ArgumentException($"importance weight {i} is {w}: weights must be finite and non-negative", nameof(importance));
        }
    }
}
