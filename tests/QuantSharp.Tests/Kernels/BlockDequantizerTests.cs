// BlockDequantizer against ggml's own dequantize_row_* on ggml-quantized random data: byte-for-byte.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.LlamaCpp;

namespace QuantSharp.Tests.Kernels;

[Trait("Category", "Oracle")]
public sealed class BlockDequantizerTests
{
    public static TheoryData<DType> Types() => new(BlockTypes.All);

    [OracleTheory]
    [MemberData(nameof(Types))]
    public void MatchesGgmlBitForBit(DType type)
    {
        var rng = new Random((int)type * 7919);
        foreach (int cols in new[] { 256, 512, 2048 })
        {
            const int rows = 7;
            float[] src = BlockTypes.RandomWeights(rng, rows * cols);
            byte[] q = BlockTypes.Quantize(type, src, rows, cols);
            float[] expected = GgmlQuantOracle.Dequantize(BlockTypes.GgmlName(type), q, rows * cols);
            var got = new float[rows * cols];
            BlockDequantizer.DequantizeRow(type, q, got);
            for (int i = 0; i < got.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]),
                    $"{type} cols {cols} element {i}: ggml {expected[i]:R}, ours {got[i]:R}");
            // Row by row gives the same floats as the whole buffer at once.
            long rb = DTypeInfo.RowBytes(type, cols);
            var one = new float[cols];
            BlockDequantizer.DequantizeRow(type, q.AsSpan((int)(3 * rb), (int)rb), one);
            Assert.Equal(expected.AsSpan(3 * cols, cols).ToArray(), one);
        }
    }

    [Fact]
    public void RejectsPartialBlocksAndShortSources()
    {
        Assert.Throws<ArgumentException>(() => BlockDequantizer.DequantizeRow(DType.Q4_0, new byte[18], new float[31]));
        Assert.Throws<ArgumentException>(() => BlockDequantizer.DequantizeRow(DType.Q4_K, new byte[143], new float[256]));
        Assert.Throws<NotSupportedException>(() => BlockDequantizer.DequantizeRow(DType.F32, new byte[4], new float[1]));
    }
}
