// A tensor quantized onto a grid: one code per value, one scale (and zero point) per group.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// The output of <see cref="IQuantizationGrid.Quantize"/>: codes kept one per byte (row-major,
/// unpacked; <see cref="PackCodes"/> packs them), one fp32 scale per group, and for integer grids
/// one zero point per group. What a scale means is the grid's (a step, an absmax, a power of two).
/// </summary>
public sealed class GridTensor
{
    /// <summary>Name of the grid that produced it (<see cref="IQuantizationGrid.Name"/>).</summary>
    public required string Grid { get; init; }

    /// <summary>Rows.</summary>
    public required int Rows { get; init; }

    /// <summary>Columns (values per row).</summary>
    public required int Columns { get; init; }

    /// <summary>Which values share a scale.</summary>
    public required GridGrouping Grouping { get; init; }

    /// <summary>Bits of each code.</summary>
    public required int CodeBits { get; init; }

    /// <summary>[Rows·Columns] codes, each below 2^CodeBits.</summary>
    public required byte[] Codes { get; init; }

    /// <summary>One scale per group (numbered as in <see cref="GridGrouping"/>).</summary>
    public required float[] Scales { get; init; }

    /// <summary>One zero point per group for asymmetric integer grids and GPTQ's symmetric grid (2^(bits−1)); null for float grids.</summary>
    public byte[]? Zeros { get; init; }

    /// <summary>The group of element (row, column).</summary>
    public int GroupOf(int row, int column) => Grouping.GroupOf(row, column, Columns);

    /// <summary>The codes as a little-endian LSB-first bit stream of <see cref="CodeBits"/> bits each.</summary>
    public byte[] PackCodes()
    {
        var packed = new byte[CodePacking.PackedLength(Codes.Length, CodeBits)];
        CodePacking.Pack(Codes, CodeBits, packed);
        return packed;
    }
}
