// Regression tests (issue 12): finite weights too large for a block's fp16 scale are refused, never written as Inf scales.
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Tests.Reliability;

public sealed class BlockScaleOverflowTests
{
    // The largest bf16 below +Inf is 3.3895e38: finite, so it passes the load-time finite check.
    private const float HugeBf16 = 3.38953139e38f;

    public static TheoryData<DType> Types()
    {
        var d = new TheoryData<DType>();
        foreach (var f in BlockFormatRegistry.All) d.Add(f.Type);
        return d;
    }

    private static float[] RowWith(float value, int length = 512)
    {
        var row = new float[length];
        for (int i = 0; i < row.Length; i++) row[i] = MathF.Sin(i) * 0.05f;
        row[37] = value;
        return row;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void EveryFormatEitherWritesFiniteScalesOrRefusesNamingTheBlock(DType type)
    {
        foreach (var v in new[] { 1e6f, 1e9f, 1e20f, HugeBf16 }) Check(type, v);
    }

    private static void Check(DType type, float huge)
    {
        var format = BlockFormatRegistry.Get(type);
        var rows = RowWith(huge).Concat(RowWith(huge)).ToArray();
        var dst = new byte[2 * 512 / format.BlockSize * format.BlockBytes];
        try
        {
            BlockQuantizer.QuantizeRows(type, rows, 512, dst, default, "tensor 'blk.0.ffn_up.weight'");
        }
        catch (InvalidDataException e)
        {
            Assert.Contains("blk.0.ffn_up.weight", e.Message);
            Assert.Contains("row 0", e.Message);
            Assert.Contains($"block {37 / format.BlockSize}", e.Message);
            return;
        }
        // A format that copes must have finite scales and must not have zeroed the large value.
        Assert.Equal(-1, BlockScaleCheck.FirstNonFinite(type, dst).Index);
        var back = new float[512];
        format.DequantizeRow(dst.AsSpan(0, dst.Length / 2), back);
        Assert.True(float.IsFinite(back[37]) && back[37] > huge / 4, $"{type}: {huge} came back as {back[37]}");
    }

    [Theory]
    [InlineData(DType.Q4_K)]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q6_K)]
    [InlineData(DType.Q2_K)]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.Q3_K)]
    [InlineData(DType.IQ4_XS)]
    public void Fp16ScaledFormatsRefuse(DType type)
    {
        var format = BlockFormatRegistry.Get(type);
        var dst = new byte[512 / format.BlockSize * format.BlockBytes];
        var e = Assert.Throws<InvalidDataException>(() => BlockQuantizer.QuantizeRows(type, RowWith(HugeBf16), 512, dst, default, "tensor 'w'"));
        Assert.Contains("tensor 'w'", e.Message);
        // The one-row entry point checks too.
        Assert.Throws<InvalidDataException>(() => format.QuantizeRow(RowWith(HugeBf16), dst));
    }

    [Fact]
    public void OrdinaryWeightsPass()
    {
        foreach (var f in BlockFormatRegistry.All)
        {
            var dst = new byte[512 / f.BlockSize * f.BlockBytes];
            BlockQuantizer.QuantizeRows(f.Type, RowWith(3.0f), 512, dst);
            Assert.Equal(-1, BlockScaleCheck.FirstNonFinite(f.Type, dst).Index);
        }
    }

    [Fact]
    public void GptqOntoBlocksRefusesToo()
    {
        int rows = 4, cols = 256;
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = MathF.Cos(i) * 0.1f;
        w[5] = HugeBf16;
        var h = new double[cols * cols];
        for (int i = 0; i < cols; i++) h[i * cols + i] = 1;
        Assert.Throws<InvalidDataException>(() => GptqBlockQuantizer.Quantize(w, rows, cols, h, new GptqBlockOptions { Type = DType.Q4_K }));
    }

    [Fact]
    public void TheLoadTimeCheckFindsAnInfScaleInStoredBlocks()
    {
        // A Q4_K block is d (fp16), dmin (fp16), 12 scale bytes, 128 nibble bytes.
        var data = new byte[3 * 144];
        BitConverter.TryWriteBytes(data.AsSpan(144 + 2), BitConverter.HalfToUInt16Bits(Half.PositiveInfinity));
        var (index, field, value) = BlockScaleCheck.FirstNonFinite(DType.Q4_K, data);
        Assert.Equal(1, index);
        Assert.Equal("dmin", field);
        Assert.True(float.IsPositiveInfinity(value));
        var e = Assert.Throws<InvalidDataException>(() => BlockScaleCheck.ThrowIfNonFinite(DType.Q4_K, data, "m.gguf: tensor 'x'", blocksPerRow: 2));
        Assert.Contains("m.gguf: tensor 'x'", e.Message);
        Assert.Contains("row 0, block 1", e.Message);
    }
}

public sealed class LoadTimeScaleCheckTests : IDisposable
{
    private readonly QuantSharp.Tests.Gguf.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void GgufFileNamesTheTensorRowAndBlockOfAnInfScale()
    {
        // Real weights (the first 512 values of a shared model tensor) as two Q4_K rows; then one
        // stored dmin is set to +Inf as a corrupt or overflowed file would have it.
        float[] values;
        using (var real = new QuantSharp.Formats.Safetensors.SafetensorsFile(SharedData.Model("sotu-llama-30m", "model-00005-of-00005.safetensors")))
        {
            var t = real.Get(real.TensorNames[0]);
            values = new float[512];
            unsafe { FloatConversion.ToFloat32(t.DType, new ReadOnlySpan<byte>(t.Pointer, 512 * DTypeInfo.SizeOf(t.DType)), values); }
        }
        var blocks = new byte[2 * 144];
        BlockQuantizer.QuantizeRows(DType.Q4_K, values, 256, blocks);
        BitConverter.TryWriteBytes(blocks.AsSpan(144 + 2), BitConverter.HalfToUInt16Bits(Half.PositiveInfinity));
        var w = new QuantSharp.Formats.Gguf.GgufWriter(new QuantSharp.Formats.Gguf.GgufMetadata());
        w.AddTensor("ok", QuantSharp.Formats.Gguf.GgmlType.F32, [4], new byte[16]);
        w.AddTensor("blk.0.ffn_up.weight", QuantSharp.Formats.Gguf.GgmlType.Q4_K, [2, 256], blocks);
        string path = _dir.File("m.gguf");
        w.WriteFile(path);
        using var f = new QuantSharp.Formats.Gguf.GgufFile(path);
        f.ThrowIfNonFiniteScales("ok");
        var e = Assert.Throws<InvalidDataException>(() => f.ThrowIfNonFiniteScales("blk.0.ffn_up.weight"));
        Assert.Contains(path, e.Message);
        Assert.Contains("blk.0.ffn_up.weight', row 1, block 0", e.Message);
        Assert.Contains("dmin", e.Message);
    }
}
