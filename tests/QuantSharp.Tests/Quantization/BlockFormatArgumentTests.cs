// Argument checking of the block formats and BlockQuantizer: wrong shapes and non-finite inputs fail with clear messages.
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

public sealed class BlockFormatArgumentTests
{
    public static TheoryData<DType> Types => new() { DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q8_0, DType.IQ4_NL, DType.IQ4_XS, DType.MXFP4 };

    [Theory, MemberData(nameof(Types))]
    public void Registry_has_the_type_with_ggml_block_geometry(DType type)
    {
        Assert.True(BlockFormatRegistry.IsSupported(type));
        var f = BlockFormatRegistry.Get(type);
        Assert.Equal(type, f.Type);
        Assert.Equal(DTypeInfo.BlockSize(type), f.BlockSize);
        Assert.Equal(DTypeInfo.BlockBytes(type), f.BlockBytes);
    }

    [Theory, MemberData(nameof(Types))]
    public void Row_not_a_multiple_of_the_block_size_is_rejected(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        var row = new float[f.BlockSize + 1];
        var ex = Assert.Throws<ArgumentException>(() => f.QuantizeRow(row, new byte[f.BlockBytes * 2]));
        Assert.Contains("not a multiple of the block size", ex.Message);
    }

    [Theory, MemberData(nameof(Types))]
    public void Wrong_destination_size_is_rejected(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        var row = new float[f.BlockSize * 2];
        var ex = Assert.Throws<ArgumentException>(() => f.QuantizeRow(row, new byte[f.BlockBytes * 2 - 1]));
        Assert.Contains("destination", ex.Message);
        Assert.Equal("destination", ex.ParamName);
    }

    [Theory, MemberData(nameof(Types))]
    public void Wrong_importance_length_is_rejected(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        var row = new float[f.BlockSize];
        var ex = Assert.Throws<ArgumentException>(() => f.QuantizeRow(row, new byte[f.BlockBytes], new float[f.BlockSize - 1]));
        Assert.Contains("importance", ex.Message);
    }

    [Theory, MemberData(nameof(Types))]
    public void Non_finite_values_are_rejected_naming_the_position(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var row = new float[f.BlockSize];
            row[5] = bad;
            var ex = Assert.Throws<ArgumentException>(() => f.QuantizeRow(row, new byte[f.BlockBytes]));
            Assert.Contains("value 5", ex.Message);
            Assert.Contains("finite", ex.Message);
        }
    }

    [Theory, MemberData(nameof(Types))]
    public void Negative_or_non_finite_importance_is_rejected(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        foreach (float bad in new[] { -1f, float.NaN, float.PositiveInfinity })
        {
            var w = new float[f.BlockSize];
            Array.Fill(w, 1f);
            w[3] = bad;
            var ex = Assert.Throws<ArgumentException>(() => f.QuantizeRow(new float[f.BlockSize], new byte[f.BlockBytes], w));
            Assert.Contains("importance weight 3", ex.Message);
        }
    }

    [Fact]
    public void QuantizeRows_checks_the_whole_tensor_before_starting()
    {
        var f = BlockFormatRegistry.Get(DType.Q4_0);
        var rows = new float[4 * 64];
        Assert.Contains("whole number of rows", Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeRows(f, rows, 96, new byte[0])).Message);
        Assert.Contains("need 144 bytes", Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeRows(f, rows, 64, new byte[143])).Message);
        Assert.Contains("importance", Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeRows(f, rows, 64, new byte[144], new float[32])).Message);
        rows[200] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeRows(f, rows, 64, new byte[144]));
        Assert.Contains("value 200", ex.Message);
        Assert.Throws<ArgumentException>(() => BlockQuantizer.QuantizeRows(f, new float[48], 48, new byte[27]));
    }

    [Theory, MemberData(nameof(Types))]
    public void QuantizeRows_equals_row_by_row_quantization(DType type)
    {
        var f = BlockFormatRegistry.Get(type);
        var set = BlockTestData.Synthetic(seed: 99, rowsPerKind: 40).First(s => s.Name.EndsWith("laplace", StringComparison.Ordinal));
        int rowBytes = set.RowLength / f.BlockSize * f.BlockBytes;
        foreach (var importance in new[] { null, BlockTestData.ActivationImportance(set.RowLength, 5) })
        {
            var whole = new byte[set.Rows * rowBytes];
            BlockQuantizer.QuantizeRows(type, set.Values, set.RowLength, whole, importance);
            var single = new byte[set.Rows * rowBytes];
            for (int r = 0; r < set.Rows; r++)
                f.QuantizeRow(set.Values.AsSpan(r * set.RowLength, set.RowLength), single.AsSpan(r * rowBytes, rowBytes), importance);
            Assert.Equal(single, whole);
        }
    }
}
