// Importance-matrix collection on the real sotu model: every linear weight gets finite positive statistics, and the file does not depend on threads.
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.Kernels;

namespace QuantSharp.Tests.Quantization;

[Collection(KernelOptionsCollection.Name)]
[Trait("Category", "RealModel")]
public sealed class ImatrixCollectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Text(int chunks)
    {
        string all = File.ReadAllText(SharedData.DataFile("sotu", "train-1790-2009.txt"));
        return all[..((chunks + 1) * 512 * 6)];
    }

    private static readonly string[] Parts = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    [Fact]
    public void SotuCollectionCoversEveryLinearWeightWithFinitePositiveValuesAndIsThreadIndependent()
    {
        const int chunks = 3;
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var (tokens, bos) = ImatrixCalibration.Tokenize(model, Text(chunks));
        // BOS per chunk only when the vocabulary adds one (sotu's tokenizer.json does not).
        Assert.Equal(model.Tokenizer!.ToTokenizerData().AddBos ? model.Tokenizer.BosId : null, bos);
        var options = new ImatrixOptions { ContextLength = 512, MaxChunks = chunks, Datasets = ["train-1790-2009.txt"] };
        var files = new List<byte[]>();
        ImportanceMatrix? m = null;
        foreach (int threads in new[] { 1, 2 })
        {
            using (new KernelScope(KernelOptions.Isa, threads))
                m = ImatrixCalibration.Collect(model, tokens, bos, options);
            string path = _dir.File($"t{threads}.gguf");
            ImatrixFile.WriteGguf(m, path);
            files.Add(File.ReadAllBytes(path));
        }
        Assert.Equal(files[0], files[1]);

        var hp = model.Parameters;
        var expected = Enumerable.Range(0, hp.NumLayers).SelectMany(l => Parts.Select(p => $"blk.{l}.{p}.weight")).Order(StringComparer.Ordinal);
        Assert.Equal(expected, m!.Entries.Select(e => e.Name));
        Assert.Equal((chunks, 512), (m.ChunkCount, m.ChunkSize));
        Assert.Equal(["train-1790-2009.txt"], m.Datasets);
        foreach (var (name, importance) in m.ToQuantizerImportance())
        {
            var e = m[name];
            Assert.Equal([chunks * 512L], e.Counts);
            Assert.Equal(name.Contains("ffn_down") ? hp.HiddenDim : name.Contains("attn_output") ? hp.QDim : hp.Dim, importance.Length);
            Assert.All(importance, v => Assert.True(float.IsFinite(v) && v > 0, $"{name}: {v}"));
        }
        // q, k and v see the same input and are stored separately with identical values, as llama.cpp does.
        Assert.Equal(m["blk.3.attn_q.weight"].SumOfSquares, m["blk.3.attn_v.weight"].SumOfSquares);
        Assert.Equal(m["blk.3.ffn_gate.weight"].SumOfSquares, m["blk.3.ffn_up.weight"].SumOfSquares);
        // Legacy round trip of real statistics gives the same importance (up to the float rounding of × ncall / ncall).
        string dat = _dir.File("x.dat");
        ImatrixFile.WriteLegacy(m, dat);
        var back = ImatrixFile.Read(dat).ToQuantizerImportance();
        foreach (var (name, v) in m.ToQuantizerImportance())
            for (int j = 0; j < v.Length; j++) Assert.Equal(v[j], back[name][j], v[j] * 1e-6f);
    }

    [Fact]
    public void TheObserverSeesEachWeightsInputOncePerForwardWithItsGgufName()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var seen = new List<(string, int, int)>();
        var session = new InferenceSession(model, 64) { MatMulObserver = new Recorder(seen) };
        int[] tokens = model.Tokenizer!.Encode("It is a good day for the Union.");
        session.Forward(tokens, new float[model.Parameters.VocabSize], allLogits: false);
        var hp = model.Parameters;
        Assert.Equal(hp.NumLayers * 7 + 1, seen.Count);
        Assert.Equal(("blk.0.attn_q.weight", tokens.Length, hp.Dim), seen[0]);
        Assert.Equal(("blk.0.attn_output.weight", tokens.Length, hp.QDim), seen[3]);
        Assert.Equal(("blk.0.ffn_down.weight", tokens.Length, hp.HiddenDim), seen[6]);
        // Tied classifier: the weight is token_embd.weight, computed for the last row only.
        Assert.Equal(("token_embd.weight", 1, hp.Dim), seen[^1]);
        // Batches below 16 rows are ignored by llama-imatrix, and so by the collector.
        var sums = new ActivationSquareSums();
        sums.OnMatMulInput("blk.0.attn_q.weight", new float[15 * 4], 15, 4);
        Assert.Empty(sums.WeightNames);
        sums.OnMatMulInput("output.weight", new float[16 * 4], 16, 4);
        Assert.Empty(sums.WeightNames);
        Assert.True(new ActivationSquareSums(processOutput: true).Collects("output.weight"));
    }

    [Fact]
    public void TooShortATextIsRefusedWithTheTokenCount()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var (tokens, bos) = ImatrixCalibration.Tokenize(model, "Only a few words.");
        var ex = Assert.Throws<ArgumentException>(() => ImatrixCalibration.Collect(model, tokens, bos, new ImatrixOptions()));
        Assert.Contains($"{tokens.Length} tokens", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImatrixOptions { ContextLength = 8 });
    }

    private sealed class Recorder(List<(string, int, int)> seen) : IMatMulObserver
    {
        public void OnMatMulInput(string weightName, ReadOnlySpan<float> input, int rows, int columns) => seen.Add((weightName, rows, columns));

        public void OnExpertMatMulInput(string weightName, int expert, int experts, ReadOnlySpan<float> input, int rows, int columns)
            => throw new InvalidOperationException($"{weightName}: a dense model has no experts");
    }
}
