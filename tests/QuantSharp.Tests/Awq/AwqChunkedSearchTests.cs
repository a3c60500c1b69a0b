// AWQ's per-layer search streams the calibration tokens chunk by chunk: memory per chunk, not per token, and no bit changed.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Awq;

[Trait("Category", "RealModel")]
public sealed class AwqChunkedSearchTests(ITestOutputHelper output)
{
    // AWQ (2-point grid, clipping on, GPTQ's 4-bit g128 grid) on layer 0 of sotu-llama-30m over `sequences` segments of
    // `length` tokens in chunks of `chunkTokens`; returns the transformed tensors, the log line and the bytes the calling
    // thread allocated inside Apply (every all-token buffer would be allocated there).
    private static (DecoderLayerTensors Tensors, string Note, long Allocated) RunLayer0(LlamaModel model, int sequences, int length, int chunkTokens)
    {
        var hp = model.Parameters;
        var calibration = AwqFunctionTests.Calibration(model, sequences, length);
        var seqs = calibration.Sequences;
        var embedding = model.TokenEmbedding.ToFloat32();
        using var store = ActivationStore.Create(ActivationStorage.Disk, seqs, hp.Dim, null);
        for (int s = 0; s < seqs.Count; s++)
        {
            var x = new float[seqs[s].Length * hp.Dim];
            for (int t = 0; t < seqs[s].Length; t++) embedding.AsSpan(seqs[s][t] * hp.Dim, hp.Dim).CopyTo(x.AsSpan(t * hp.Dim));
            store.Write(s, x);
        }
        var chunks = new List<(int, int, int)>();
        for (int first = 0; first < seqs.Count;)
        {
            int count = 0, tokens = 0;
            while (first + count < seqs.Count && (count == 0 || tokens + seqs[first + count].Length <= chunkTokens)) tokens += seqs[first + count++].Length;
            chunks.Add((first, count, tokens));
            first += count;
        }
        var forward = new LayerCalibrationForward(hp, 0, store, seqs, chunks, ActivationStorage.Disk, null);
        var tensors = DecoderLayerTensors.From(model, 0, hp.Architecture.HfNaming);
        string note = "";
        var awq = new AwqLayerTransform(new AwqOptions { Grid = 2 }, new RtnLinearQuantizer(new GptqOptions { Bits = 4, GroupSize = 128 }), 128);
        var context = new LayerTransformContext { Layer = 0, Parameters = hp, Tensors = tensors, Calibration = forward, Log = s => note = s };
        long before = GC.GetAllocatedBytesForCurrentThread();
        awq.Apply(context);
        return (tensors, note, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // 4 and 16 sequences of 256 tokens in chunks of 256: the search allocates the same chunk-sized buffers. Holding the
    // layer's values for all tokens (as the search did before: 10 buffers of up to the MLP's width) would add
    // 12 × 256 tokens × (5·512 + 2·512 + 2·1536) floats ≈ 82 MB for the 12 extra sequences; the bound is 4 MB.
    [Fact]
    public void AwqSearchAllocatesPerChunkNotPerToken()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var (_, _, few) = RunLayer0(model, 4, 256, 256);
        var (_, _, many) = RunLayer0(model, 16, 256, 256);
        output.WriteLine($"allocated by the calling thread in Apply: {few / 1048576.0:0.0} MiB at 4 × 256 tokens, {many / 1048576.0:0.0} MiB at 16 × 256");
        Assert.True(many - few < 4L << 20, $"AWQ's allocations grew by {(many - few) / 1048576.0:0.0} MiB from 1,024 to 4,096 calibration tokens at the same chunk size");
        // And the chunk-sized part is what it should be: the layer's weights' copies and a few chunk buffers, well under
        // what one all-token buffer set would be at 4,096 tokens (≈ 110 MB); 24.5 MiB when this was written.
        Assert.True(many < 40L << 20, $"AWQ allocated {many / 1048576.0:0.0} MiB for one layer");
    }

    // The error sums run over the chunks in token order onto one double: 8 × 128 tokens in chunks of 128 and in one
    // chunk of 1,024 give the same α, clipping and transformed tensors, bit for bit.
    [Fact]
    public void ChunkingChangesNoBitOfTheTransformedLayer()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var (chunked, chunkedNote, _) = RunLayer0(model, 8, 128, 128);
        var (whole, wholeNote, _) = RunLayer0(model, 8, 128, 1024);
        output.WriteLine(chunkedNote);
        Assert.Equal(wholeNote, chunkedNote);
        Assert.Contains("clipped", chunkedNote);
        Assert.Equal(whole.AttentionNorm, chunked.AttentionNorm);
        Assert.Equal(whole.FfnNorm, chunked.FfnNorm);
        foreach (var (a, b) in new[] { (whole.Q, chunked.Q), (whole.K, chunked.K), (whole.V, chunked.V), (whole.O, chunked.O), (whole.Gate!, chunked.Gate!), (whole.Up!, chunked.Up!), (whole.Down!, chunked.Down!) })
            Assert.True(a.Values.AsSpan().SequenceEqual(b.Values), $"{a.Name} differs between chunks of 128 tokens and one chunk");
    }
}
