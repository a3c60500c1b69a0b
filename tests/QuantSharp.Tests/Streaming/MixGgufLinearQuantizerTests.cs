// A calibrated run into a llama.cpp mix: the mix's types, and llama.cpp's quantizer with the run's own importance matrix where GPTQ has no grid.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

[Trait("Category", "RealModel")]
public sealed class MixGgufLinearQuantizerTests
{
    /// <summary>
    /// Collects the mean squares of every linear's inputs exactly as the runner's own statistics do (the same
    /// accumulator, fed the same rows in the same order), keyed by the GGUF tensor that reads them: the importance
    /// matrix the run used.
    /// </summary>
    private sealed class ImportanceObserver(LlamaModel model) : ICalibrationObserver
    {
        private readonly Dictionary<(int, LinearInputGroup), LinearInputStatistics> _stats = [];

        public void ObserveLinearInput(int layer, LinearInputGroup group, ReadOnlySpan<float> x, int rows, int width)
        {
            if (!_stats.TryGetValue((layer, group), out var s)) _stats[(layer, group)] = s = new LinearInputStatistics(width, withHessian: false);
            s.Add(x, rows);
        }

        public void ObserveKeyValue(int layer, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int tokens, int kvDim) { }

        public Dictionary<string, float[]> Importance()
        {
            var naming = model.Parameters.Architecture.GgufNaming;
            var d = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (var ((layer, group), s) in _stats)
                foreach (var linear in LlamaLinearExtensions.All.Where(k => model.Parameters.Architecture.InputOf(k) == group))
                    d[naming.Name(linear.Role(), layer)] = [.. s.MeanSquares().Select(v => (float)v)];
            return d;
        }
    }

    private static CalibrationSet Calibration(LlamaModel model) =>
        CalibrationSet.RandomSegments(model.Tokenizer!, [SharedData.DataFile("sotu", "train-1790-2009.txt")], 6, 96, 0);

    [Fact]
    public void RtnMixWithOriginalActivationsIsLlamaCppsMixWithTheRunsImportanceMatrix()
    {
        // Q4_0 with an importance matrix: blk.0.ffn_down becomes Q4_1 (llama.cpp's rule), every tensor importance-weighted.
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var observer = new ImportanceObserver(model);
        var types = LlamaCppMixRecipe.LinearTypes(model, LlamaCppMixRecipe.Plan(model, LlamaCppFileType.Q4_0, hasImportance: true));
        var runner = new LayerStreamingQuantizer(model, new MixGgufLinearQuantizer(types, MixRounding.Importance), Calibration(model),
            new LayerStreamingOptions { OriginalActivations = true, Observer = observer, TemporaryDirectory = dir.Path });
        string streamed = dir.File("streamed.gguf"), whole = dir.File("whole.gguf");
        GgufStreamingExport.Export(model, runner, LlamaCppFileType.Q4_0, pure: false, streamed);
        var importance = observer.Importance();
        Assert.Equal(8 * 7, importance.Count);
        LlamaCppMixRecipe.Quantize(model, whole, LlamaCppFileType.Q4_0, importance);
        using (var f = new GgufFile(streamed)) Assert.Equal(GgmlType.Q4_1, f.GetInfo("blk.0.ffn_down.weight").Type);
        Assert.True(File.ReadAllBytes(streamed).AsSpan().SequenceEqual(File.ReadAllBytes(whole)), "the streamed file differs from the mix quantized with the run's importance matrix");
    }

    [Fact]
    public void GptqMixRoundsWhatItHasAGridForAndUsesTheImportanceMatrixElsewhere()
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var observer = new ImportanceObserver(model);
        var plan = LlamaCppMixRecipe.Plan(model, LlamaCppFileType.Q4_0, hasImportance: true);
        var quantizer = new MixGgufLinearQuantizer(LlamaCppMixRecipe.LinearTypes(model, plan), MixRounding.Gptq);
        var runner = new LayerStreamingQuantizer(model, quantizer, Calibration(model), new LayerStreamingOptions { Observer = observer, TemporaryDirectory = dir.Path });
        string gptq = dir.File("gptq.gguf"), plain = dir.File("plain.gguf");
        GgufStreamingExport.Export(model, runner, LlamaCppFileType.Q4_0, pure: false, gptq);
        LlamaCppMixRecipe.Quantize(model, plain, LlamaCppFileType.Q4_0);
        var importance = observer.Importance();
        using var g = new GgufFile(gptq);
        using var p = new GgufFile(plain);
        Assert.Equal((uint)LlamaCppFileType.Q4_0, g.Metadata.GetUInt32(LlamaGgufNames.FileType));
        int rounded = 0;
        foreach (var t in g.Tensors.Where(t => t.Dimensions.Length == 2))
        {
            Assert.Equal(plan[t.Name], t.Type);
            if (t.Name == LlamaGgufNames.TokenEmbedding)
            {
                // No importance for the embedding (llama-imatrix collects none): the plain mix's bytes.
                Assert.True(g.GetRawBytes(t.Name).SequenceEqual(p.GetRawBytes(t.Name)), $"{t.Name} differs from the plain mix");
                continue;
            }
            var coreType = GgmlTypeInfo.Of(t.Type).CoreType!.Value;
            if (coreType == DType.Q4_1)
            {
                // GPTQ has no Q4_1 grid: ggml's quantizer on the source rows with the run's importance entry (the inputs of the
                // sequential run, after the quantized layers before it).
                int cols = checked((int)t.Dimensions[0]);
                var w = model.Layers[0].Weight(LlamaLinear.Down).ToFloat32();
                var expected = new byte[g.GetRawBytes(t.Name).Length];
                BlockQuantizer.QuantizeRows(DType.Q4_1, w, cols, expected, importance[t.Name]);
                Assert.True(g.GetRawBytes(t.Name).SequenceEqual(expected), $"{t.Name}: not ggml's Q4_1 with the run's importance");
            }
            else
            {
                Assert.Equal(DType.Q4_0, coreType);
                Assert.False(g.GetRawBytes(t.Name).SequenceEqual(p.GetRawBytes(t.Name)), $"{t.Name}: GPTQ left the plain mix's bytes");
                rounded++;
            }
        }
        Assert.Equal(8 * 7 - 1, rounded);
        Assert.Equal("blk.0.ffn_down.weight", g.Tensors.Single(t => t.Type == GgmlType.Q4_1).Name);
    }
}
