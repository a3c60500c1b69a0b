// The layer-streaming runner: same bytes as whole-model RTN, where the two activation modes differ, cancellation.
using QuantSharp.Models.Architectures;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

public sealed class LayerStreamingQuantizerTests
{
    /// <summary>Records a fingerprint (sum and sum of squares in fp64) of every observed activation group.</summary>
    private sealed class FingerprintObserver : ICalibrationObserver
    {
        public Dictionary<(int Layer, string What), (double Sum, double SumSq, long Count)> Seen { get; } = [];

        private void Add(int layer, string what, ReadOnlySpan<float> x)
        {
            Seen.TryGetValue((layer, what), out var f);
            foreach (var v in x) { f.Sum += v; f.SumSq += (double)v * v; }
            f.Count += x.Length;
            Seen[(layer, what)] = f;
        }

        public void ObserveLinearInput(int layer, LinearInputGroup group, ReadOnlySpan<float> x, int rows, int width) => Add(layer, group.ToString(), x[..(rows * width)]);

        public void ObserveKeyValue(int layer, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int tokens, int kvDim)
        {
            Add(layer, "K", keys[..(tokens * kvDim)]);
            Add(layer, "V", values[..(tokens * kvDim)]);
        }
    }

    /// <summary>Returns the weights unchanged (as fp32): the quantized model is the original one.</summary>
    private sealed class IdentityQuantizer : ILinearQuantizer
    {
        public string Name => "identity";
        public StatisticsNeeds Needs => StatisticsNeeds.None;
        public ILinearQuantizer WithoutData => this;
        public QuantizedLinear Quantize(LinearQuantizationInput input) => new() { Dequantized = input.Weight };
    }

    private static CalibrationSet RandomCalibration(int vocab, int sequences, int length, int seed)
    {
        var rng = new Random(seed);
        // Mixed lengths: chunks then hold several sequences, each attending only within itself.
        return new CalibrationSet([.. Enumerable.Range(0, sequences).Select(i => Enumerable.Range(0, length - i % 3 * 5).Select(_ => rng.Next(vocab)).ToArray())], "random");
    }

    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");

    [Theory]
    [Trait("Category", "RealModel")]
    [InlineData("stories260K", DType.Q4_K, true)]
    [InlineData("stories260K", DType.Q6_K, false)]
    [InlineData("sotu-llama-30m", DType.Q4_0, false)]
    public void StreamingRtnGgufHasTheSameTensorBytesAsWholeModelRtn(string modelName, DType type, bool withCalibration)
    {
        using var dir = new TempDirectory();
        string path = modelName == "stories260K" ? Stories : SharedData.Model(modelName);
        using var model = LlamaModel.Load(path);
        string whole = dir.File("whole.gguf"), streamed = dir.File("streamed.gguf");
        PureGgufRecipe.Quantize(model, whole, type);
        var calib = withCalibration ? RandomCalibration(model.Parameters.VocabSize, 6, 40, 1) : null;
        var runner = new LayerStreamingQuantizer(model, new RtnGgufLinearQuantizer(type), calib, new LayerStreamingOptions { TemporaryDirectory = dir.Path, ChunkTokens = 64 });
        GgufStreamingExport.Export(model, runner, type, streamed);
        using var a = new GgufFile(whole);
        using var b = new GgufFile(streamed);
        Assert.Equal(a.TensorNames, b.TensorNames);
        foreach (var name in a.TensorNames)
        {
            Assert.Equal(a.GetInfo(name).Type, b.GetInfo(name).Type);
            Assert.True(a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name)), $"{name}: bytes differ");
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "quantsharp-activations-*"));
    }

    [Fact]
    [Trait("Category", "RealModel")]
    public void SequentialAndOriginalActivationModesDifferOnlyWhereExpected()
    {
        using var model = LlamaModel.Load(Stories);
        var calib = RandomCalibration(model.Parameters.VocabSize, 5, 48, 2);
        var options = new GptqOptions { Bits = 3, GroupSize = 32 };

        (FingerprintObserver Obs, List<float[]> Weights) Run(ILinearQuantizer q, bool original)
        {
            var obs = new FingerprintObserver();
            var runner = new LayerStreamingQuantizer(model, q, calib, new LayerStreamingOptions { OriginalActivations = original, Observer = obs, ChunkTokens = 100, Storage = ActivationStorage.Memory });
            var weights = runner.Run().SelectMany(l => l.Linears.Select(x => x!.Dequantized)).ToList();
            return (obs, weights);
        }

        var seq = Run(new RtnLinearQuantizer(options), original: false);
        var orig = Run(new RtnLinearQuantizer(options), original: true);
        // RTN ignores activations: the same weights in both modes.
        Assert.Equal(seq.Weights.Count, orig.Weights.Count);
        for (int i = 0; i < seq.Weights.Count; i++) Assert.Equal(seq.Weights[i], orig.Weights[i]);
        // Layer 0's q/k/v input is the embedding in both modes; everything after a quantized sub-layer differs.
        Assert.Equal(seq.Obs.Seen[(0, nameof(LinearInputGroup.AttentionInput))], orig.Obs.Seen[(0, nameof(LinearInputGroup.AttentionInput))]);
        foreach (var what in new[] { "K", "V", nameof(LinearInputGroup.AttentionOutput), nameof(LinearInputGroup.MlpInput), nameof(LinearInputGroup.MlpHidden) })
            Assert.NotEqual(seq.Obs.Seen[(0, what)], orig.Obs.Seen[(0, what)]);
        for (int l = 1; l < model.Parameters.NumLayers; l++)
            Assert.NotEqual(seq.Obs.Seen[(l, nameof(LinearInputGroup.AttentionInput))], orig.Obs.Seen[(l, nameof(LinearInputGroup.AttentionInput))]);
        Assert.Equal(calib.TotalTokens * model.Parameters.Dim, seq.Obs.Seen[(0, nameof(LinearInputGroup.AttentionInput))].Count);

        // With weights left unchanged the sequential machinery (recomputation, residual stored
        // mid-layer) must reproduce the original forward exactly.
        var idSeq = Run(new IdentityQuantizer(), original: false);
        var idOrig = Run(new IdentityQuantizer(), original: true);
        Assert.Equal(idOrig.Obs.Seen, idSeq.Obs.Seen);
    }

    // On disk the run also keeps each layer's MLP hidden activations between down_proj's two passes (in memory they are
    // recomputed): every later layer's inputs, hence the statistics, show a wrong or misplaced row. Two chunks of two sequences.
    [Fact]
    [Trait("Category", "RealModel")]
    public void ActivationsOnDiskAndInMemoryGiveTheSameStatistics()
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(Stories);
        var calib = RandomCalibration(model.Parameters.VocabSize, 4, 30, 3);
        var seen = new List<Dictionary<(int, string), (double, double, long)>>();
        foreach (var storage in new[] { ActivationStorage.Disk, ActivationStorage.Memory })
        {
            var obs = new FingerprintObserver();
            var r = new LayerStreamingQuantizer(model, new RtnLinearQuantizer(new GptqOptions { Bits = 4, GroupSize = 32 }), calib,
                new LayerStreamingOptions { Storage = storage, TemporaryDirectory = dir.Path, Observer = obs, ChunkTokens = 60 });
            // The disk store's file is unlinked as soon as it is opened (nothing survives kill -9): no name is ever visible.
            foreach (var _ in r.Run()) Assert.Empty(Directory.GetFiles(dir.Path, "quantsharp-activations-*"));
            seen.Add(obs.Seen);
        }
        Assert.Equal(seen[0], seen[1]);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    // The hidden-activation file is an optimisation: made only where the temporary file system stays at least half free,
    // and never where its free space cannot be read.
    [Fact]
    public void TheHiddenActivationFileIsOnlyMadeWhereItLeavesHalfTheDiskFree()
    {
        using var dir = new TempDirectory();
        long free = new DriveInfo(dir.Path).AvailableFreeSpace;
        Assert.True(LayerStreamingQuantizer.HiddenFileFits(1 << 20, dir.Path));
        Assert.False(LayerStreamingQuantizer.HiddenFileFits(free / 2 + (1L << 30), dir.Path));
        Assert.False(LayerStreamingQuantizer.HiddenFileFits(1 << 20, Path.Combine(dir.Path, "missing", "deeper")));
    }

    [Fact]
    public void CancellingTheRunLeavesNoOutputAndNoTemporaryFiles()
    {
        using var dir = new TempDirectory();
        string src = SyntheticHfModel.Write(dir.File("src"));
        using var model = LlamaModel.Load(src);
        var calib = RandomCalibration(SyntheticHfModel.Vocab, 4, 40, 4);
        foreach (bool gguf in new[] { false, true })
        {
            using var cts = new CancellationTokenSource();
            // Cancel in the middle of the second decoder layer, as Ctrl-C would.
            var progress = new Progress(p => { if (p.Done > p.Total / 2) cts.Cancel(); });
            var options = new LayerStreamingOptions { TemporaryDirectory = dir.Path, Progress = progress, ChunkTokens = 40 };
            string target = dir.File(gguf ? "out.gguf" : "out-gptq");
            Assert.ThrowsAny<OperationCanceledException>(() =>
            {
                if (gguf)
                    GgufStreamingExport.Export(model, new LayerStreamingQuantizer(model, new RtnGgufLinearQuantizer(DType.Q8_0), calib, options), DType.Q8_0, target, cancellationToken: cts.Token);
                else
                    HfGptqExporter.Export(model, new LayerStreamingQuantizer(model, new RtnLinearQuantizer(new GptqOptions()), calib, options), new GptqOptions(), target, cancellationToken: cts.Token);
            });
            Assert.True(cts.IsCancellationRequested);
            Assert.False(File.Exists(target) || Directory.Exists(target));
            Assert.Equal(["src"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        }
    }

    private sealed class Progress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
