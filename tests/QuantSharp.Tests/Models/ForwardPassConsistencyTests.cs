// Self-consistency of the forward pass on the real sotu-llama-30m weights: batched prefill equals
// one-token decode, and the GGUF (interleaved) RoPE layout after row permutation equals HF's layout.
using QuantSharp.Models.Architectures;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Models;

[Trait("Category", "RealModel")]
public sealed class ForwardPassConsistencyTests
{
    private static readonly string Folder = Path.Combine(SharedData.Models, "sotu-llama-30m");
    private static readonly int[] Tokens = [0, 464, 1893, 286, 262, 4479, 2248, 11, 290, 262, 1578, 318, 1913, 13, 775, 423, 257, 1492, 1110, 4059];

    private static LlamaModel LoadWithoutTokenizer(out LlamaHyperParameters hp, bool slidingWindow = false)
    {
        hp = LlamaHyperParameters.FromHf(HfConfig.Load(Folder));
        if (slidingWindow) hp = Windowed(hp);
        return new LlamaModel(SafetensorsModel.Open(Folder), hp, TensorNaming.HuggingFace, null, "hf-safetensors");
    }

    private static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Sliding windows of 6 positions on layers 0, 2, 4 and 6 (Gemma 3's interleaving), so that windowed and full layers meet in one model.</summary>
    private static LlamaHyperParameters Windowed(LlamaHyperParameters hp)
        => hp with { SlidingWindow = 6, SlidingLayers = Enumerable.Range(0, hp.NumLayers).Select(l => l % 2 == 0).ToArray() };

    [Theory]
    [InlineData(KvCacheType.F32, false)]
    [InlineData(KvCacheType.F16, false)]
    [InlineData(KvCacheType.F16, true)]
    public void BatchedPrefillEqualsTokenByTokenDecode(KvCacheType kv, bool slidingWindow)
    {
        using var model = LoadWithoutTokenizer(out var hp, slidingWindow);
        int v = hp.VocabSize;
        var batched = new float[Tokens.Length * v];
        new InferenceSession(model, 64, kvCache: kv).Forward(Tokens, batched, allLogits: true);
        var session = new InferenceSession(model, 64, kvCache: kv);
        var one = new float[v];
        for (int i = 0; i < Tokens.Length; i++)
        {
            session.Forward(Tokens.AsSpan(i, 1), one, allLogits: false);
            Assert.True(MaxAbsDiff(one, batched.AsSpan(i * v, v)) < 1e-3f, $"position {i}");
        }
        Assert.All(batched, x => Assert.True(float.IsFinite(x)));
    }

    /// <summary>
    /// Prefill attention in multi-token jobs (the default block, and 5 with ragged tails) gives the bits
    /// of one-token jobs: fp32 and fp16 caches, with and without sliding-window layers, on 1 and 2
    /// threads, and a second batch starting mid-cache (the block's visible rows offset by Position).
    /// </summary>
    [Theory]
    [InlineData(KvCacheType.F32, false, 1)]
    [InlineData(KvCacheType.F16, false, 1)]
    [InlineData(KvCacheType.F16, false, 2)]
    [InlineData(KvCacheType.F32, true, 2)]
    [InlineData(KvCacheType.F16, true, 1)]
    public void MultiTokenAttentionJobsGiveTheBitsOfOneTokenJobs(KvCacheType kv, bool slidingWindow, int threads)
    {
        using var scope = new QuantSharp.Tests.Kernels.KernelScope(QuantSharp.Core.Kernels.KernelOptions.Isa, threads);
        using var model = LoadWithoutTokenizer(out var hp, slidingWindow);
        int v = hp.VocabSize;
        float[] Run(int block)
        {
            var logits = new float[Tokens.Length * v];
            var session = new InferenceSession(model, 64, 64, kv, block);
            session.Forward(Tokens.AsSpan(0, 7), logits, allLogits: true);
            session.Forward(Tokens.AsSpan(7), logits.AsSpan(7 * v), allLogits: true);
            return logits;
        }
        var oneTokenJobs = Run(1);
        Assert.All(oneTokenJobs, x => Assert.True(float.IsFinite(x)));
        foreach (int block in new[] { InferenceSession.DefaultAttentionBlock, 5 })
        {
            var blocked = Run(block);
            int firstDiff = Enumerable.Range(0, blocked.Length).FirstOrDefault(i => BitConverter.SingleToInt32Bits(blocked[i]) != BitConverter.SingleToInt32Bits(oneTokenJobs[i]), -1);
            Assert.True(firstDiff < 0, $"block {block}: logit {firstDiff} differs (token {firstDiff / v})");
        }
    }

    [Fact]
    public void InterleavedLayoutAfterPermutationGivesTheSameLogits()
    {
        using var hfModel = LoadWithoutTokenizer(out var hp);
        var permuted = new InMemoryWeights("permuted");
        foreach (var name in hfModel.Source.TensorNames)
        {
            var t = hfModel.Source.Get(name);
            var bytes = t.Bytes.ToArray();
            if (name.EndsWith("q_proj.weight") || name.EndsWith("k_proj.weight"))
            {
                var dst = new byte[bytes.Length];
                RopePermutation.HfToInterleaved(bytes, dst, (int)t.Rows, (int)t.Columns * DTypeInfo.SizeOf(t.DType), hp.HeadDim);
                bytes = dst;
            }
            permuted.Add(name, t.DType, bytes, t.Shape);
        }
        using var ggufLike = new LlamaModel(permuted, hp with { RopeLayout = RopeLayout.Interleaved }, TensorNaming.HuggingFace, null, "test");
        int v = hp.VocabSize;
        var a = new float[Tokens.Length * v];
        var b = new float[Tokens.Length * v];
        new InferenceSession(hfModel, 64).Forward(Tokens, a, allLogits: true);
        new InferenceSession(ggufLike, 64).Forward(Tokens, b, allLogits: true);
        Assert.True(MaxAbsDiff(a, b) < 1e-4f, $"max |Δ| {MaxAbsDiff(a, b)}");
    }

    [Fact]
    public void ContextOverflowAndBadTokensAreRejected()
    {
        using var model = LoadWithoutTokenizer(out var hp);
        var s = new InferenceSession(model, 8);
        var logits = new float[hp.VocabSize * 16];
        Assert.Throws<InvalidOperationException>(() => s.Forward(new int[9], logits, allLogits: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Forward([hp.VocabSize], logits, allLogits: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Forward([-1], logits, allLogits: false));
    }

    [Fact]
    public void ForwardHiddenIsWhatTheClassifierMultiplies()
    {
        // The classifier's inputs from ForwardHidden, multiplied by the classifier, are Forward's logits bit for bit
        // (two batches: the prompt is split at a batch of 8).
        using var m = LoadWithoutTokenizer(out var hp);
        var logits = new float[Tokens.Length * hp.VocabSize];
        new InferenceSession(m, 64, maxBatch: 8).Forward(Tokens, logits, allLogits: true);
        var hidden = new float[Tokens.Length * hp.Dim];
        new InferenceSession(m, 64, maxBatch: 8).ForwardHidden(Tokens, hidden);
        var again = new float[logits.Length];
        QuantSharp.Core.Kernels.MatMul.Multiply(hidden, Tokens.Length, m.Output, again);
        Assert.True(logits.AsSpan().SequenceEqual(again), $"max |Δ| {MaxAbsDiff(logits, again)}");
    }
}
