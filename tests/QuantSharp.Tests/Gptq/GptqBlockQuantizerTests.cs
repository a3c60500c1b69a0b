// GPTQ onto GGUF block grids: per-element rounding against stored scales, and error feedback that beats RTN blocks.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Tests.Gptq;

public sealed class GptqBlockQuantizerTests
{
    public static TheoryData<DType> Types => new(GptqBlockQuantizer.SupportedTypes);

    [Theory]
    [MemberData(nameof(Types))]
    public void Round_element_writes_the_nearest_level_the_dequantizer_reads_back(DType type)
    {
        var grid = (IBlockGrid)BlockFormatRegistry.Get(type);
        int bs = grid.BlockSize;
        var rng = new Random((int)type);
        for (int trial = 0; trial < 20; trial++)
        {
            var x = new float[bs];
            for (int i = 0; i < bs; i++) x[i] = (float)((rng.NextDouble() - 0.5) * (trial % 3 == 0 ? 0.02 : 2.0) + (trial % 4 == 1 ? 0.3 : 0));
            var importance = trial % 2 == 0 ? null : Enumerable.Range(0, bs).Select(_ => (float)rng.NextDouble()).ToArray();
            var block = new byte[grid.BlockBytes];
            grid.QuantizeBlock(x, block, importance);
            var before = new float[bs];
            BlockDequantizer.DequantizeRow(type, block, before);
            var after = new float[bs];
            for (int j = 0; j < bs; j++)
            {
                // Targets inside the range, beyond it, and exactly on grid points.
                float target = (trial % 5) switch
                {
                    0 => before[j],
                    1 => x[j] * 3,
                    _ => x[j] + (float)((rng.NextDouble() - 0.5) * 0.1),
                };
                float value = grid.RoundElement(block, j, target);
                BlockDequantizer.DequantizeRow(type, block, after);
                Assert.Equal(value, after[j]);
                Assert.True(Math.Abs(value - target) <= Math.Abs(before[j] - target), $"{type} element {j}: {value} is farther from {target} than the grid point {before[j]}");
                if (trial % 5 == 0) Assert.Equal(before[j], value);
                for (int k = 0; k < bs; k++) if (k != j) Assert.Equal(before[k], after[k]);
                before[j] = value;
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void With_a_diagonal_hessian_there_is_no_feedback_and_nearest_rounding_is_never_worse_than_ggml(DType type)
    {
        int rows = 8, cols = 512;
        var rng = new Random(11);
        var w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = (float)((rng.NextDouble() - 0.5) * (1 + (i % 13 == 0 ? 4 : 0)));
        var h = new double[cols * cols];
        var diag = new float[cols];
        for (int c = 0; c < cols; c++) { h[c * cols + c] = 0.5 + rng.NextDouble(); diag[c] = (float)h[c * cols + c]; }
        // Q4_0's importance search takes statistics over the whole row; the GPTQ mode sees one block at a time.
        foreach (bool imp in type == DType.Q4_0 ? new[] { false } : new[] { false, true })
        {
            var gptq = GptqBlockQuantizer.Quantize(w, rows, cols, h, new GptqBlockOptions { Type = type, HessianImportance = imp });
            var rtn = RoundToNearest(type, w, rows, cols, imp ? diag : null);
            for (int i = 0; i < w.Length; i++)
                Assert.True(Math.Abs(gptq.Dequantized[i] - w[i]) <= Math.Abs(rtn[i] - w[i]), $"{type} importance {imp} value {i}: {gptq.Dequantized[i]} vs ggml {rtn[i]} for {w[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Error_feedback_beats_round_to_nearest_blocks_on_correlated_inputs(DType type)
    {
        var layer = new SyntheticLayer(16, 512, 800, seed: 5, deadColumns: [3, 300]);
        var diag = Enumerable.Range(0, layer.Cols).Select(c => (float)layer.Hessian[c * layer.Cols + c]).ToArray();
        foreach (bool imp in new[] { false, true })
        {
            var gptq = GptqBlockQuantizer.Quantize(layer.Weight, layer.Rows, layer.Cols, layer.Hessian, new GptqBlockOptions { Type = type, HessianImportance = imp });
            Assert.Equal(layer.Rows * layer.Cols / DTypeInfo.BlockSize(type) * DTypeInfo.BlockBytes(type), gptq.Data.Length);
            var fromBytes = new float[layer.Rows * layer.Cols];
            BlockDequantizer.DequantizeRow(type, gptq.Data, fromBytes);
            Assert.Equal(fromBytes, gptq.Dequantized);
            double g = LayerObjective.Of(layer.Weight, gptq.Dequantized, layer.Rows, layer.Cols, layer.Hessian);
            double r = LayerObjective.Of(layer.Weight, RoundToNearest(type, layer.Weight, layer.Rows, layer.Cols, imp ? diag : null), layer.Rows, layer.Cols, layer.Hessian);
            Assert.True(g < r, $"{type} importance {imp}: GPTQ {g:G4} vs RTN {r:G4}");
        }
    }

    [Fact]
    public void Unsupported_types_and_ragged_rows_are_refused()
    {
        var layer = new SyntheticLayer(2, 64, 100, seed: 2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => GptqBlockQuantizer.Quantize(layer.Weight, 2, 64, layer.Hessian, new GptqBlockOptions { Type = DType.Q4_1 }));
        Assert.Equal("Type", ex.ParamName);
        var ragged = Assert.Throws<ArgumentException>(() => GptqBlockQuantizer.Quantize(layer.Weight, 2, 64, layer.Hessian, new GptqBlockOptions { Type = DType.Q4_K }));
        Assert.Contains("256", ragged.Message);
        var w = (float[])layer.Weight.Clone();
        w[70] = float.PositiveInfinity;
        var bad = Assert.Throws<ArgumentException>(() => GptqBlockQuantizer.Quantize(w, 2, 64, layer.Hessian, new GptqBlockOptions { Type = DType.Q8_0 }));
        Assert.Contains("weight[1, 6]", bad.Message);
    }

    internal static float[] RoundToNearest(DType type, float[] w, int rows, int cols, float[]? importance)
    {
        int rowBytes = cols / DTypeInfo.BlockSize(type) * DTypeInfo.BlockBytes(type);
        var bytes = new byte[rows * rowBytes];
        BlockQuantizer.QuantizeRows(type, w, cols, bytes, importance);
        var result = new float[rows * cols];
        BlockDequantizer.DequantizeRow(type, bytes, result);
        return result;
    }
}
