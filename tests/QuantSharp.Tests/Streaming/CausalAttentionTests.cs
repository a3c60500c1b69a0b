// The calibration attention in prefill blocks gives every (token, head) the bits of the one-token, one-head calls.
using QuantSharp.Core.Kernels;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Tests.Streaming;

public sealed class CausalAttentionTests
{
    // Synthetic q/k/v (a kernel check): sequences of uneven lengths laid end to end (blocks must not cross them, and
    // lengths that are not multiples of the block leave short tail blocks), GQA groups of 1 to 4 query heads (odd groups
    // leave a lone head in the last pair), with and without a sliding window narrower than a sequence, on every ISA.
    [Theory]
    [InlineData(KernelIsa.Avx512, 4, 4, null)]
    [InlineData(KernelIsa.Avx512, 6, 2, null)]
    [InlineData(KernelIsa.Avx512, 6, 2, 5)]
    [InlineData(KernelIsa.Avx512, 8, 2, 11)]
    [InlineData(KernelIsa.Avx2, 6, 2, 5)]
    [InlineData(KernelIsa.Avx2, 8, 2, null)]
    [InlineData(KernelIsa.Scalar, 6, 2, 5)]
    [InlineData(KernelIsa.Scalar, 4, 4, null)]
    public void BlocksEqualTheOneTokenOneHeadCallsBitForBit(KernelIsa isa, int heads, int kvHeads, int? window)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        var hp = new LlamaHyperParameters
        {
            VocabSize = 32, Dim = 64 * heads, HiddenDim = 128, NumLayers = 1, NumHeads = heads, NumKvHeads = kvHeads, HeadDim = 64,
            RmsNormEps = 1e-5f, RopeTheta = 10000, ContextLength = 256, RopeLayout = RopeLayout.HalfSplit, TiedEmbeddings = false,
            SlidingWindow = window,
        };
        int[] lengths = [1, 13, 40, 7, 30];
        int n = lengths.Sum(), maxSequence = lengths.Max();
        var sequenceStart = new int[n];
        for (int s = 0, t = 0; s < lengths.Length; t += lengths[s], s++)
            for (int i = 0; i < lengths[s]; i++) sequenceStart[t + i] = t;
        var rng = new Random(29);
        float[] Random(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 4 - 2))];
        float[] q = Random(n * hp.QDim), k = Random(n * hp.KvDim), v = Random(n * hp.KvDim);

        using var scope = KernelOptions.Use(new ExecutionOptions { Isa = isa, Threads = 2 });
        var blocks = new float[n * hp.QDim];
        CausalAttention.Run(hp, 0, q, k, v, blocks, sequenceStart, n, maxSequence);

        // The reference: one query head and one token at a time, as the runner did before session 16.
        int hd = hp.HeadDim, kvDim = hp.KvDim, qDim = hp.QDim, group = heads / kvHeads;
        var expected = new float[n * qDim];
        var scores = new float[maxSequence];
        for (int h = 0; h < heads; h++)
            for (int t = 0; t < n; t++)
            {
                int start = window is { } w ? Math.Max(sequenceStart[t], t - w + 1) : sequenceStart[t], len = t - start + 1;
                int kvh = h / group;
                var s = scores.AsSpan(0, len);
                AttentionOps.Scores(new ReadOnlySpan<float>(q, t * qDim + h * hd, hd), new ReadOnlySpan<float>(k, start * kvDim + kvh * hd, (len - 1) * kvDim + hd), kvDim, hp.AttentionScale, s);
                VectorOps.Softmax(s);
                AttentionOps.WeightedSum(s, new ReadOnlySpan<float>(v, start * kvDim + kvh * hd, (len - 1) * kvDim + hd), kvDim, new Span<float>(expected, t * qDim + h * hd, hd));
            }
        Assert.Equal(expected, blocks);
    }
}
