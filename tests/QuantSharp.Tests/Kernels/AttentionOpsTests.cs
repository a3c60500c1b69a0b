// Attention inner loops against plain double-precision sums on every ISA path.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Tests.Kernels;

[Collection(KernelOptionsCollection.Name)]
public sealed class AttentionOpsTests
{
    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Scalar)]
    public void ScoresAndWeightedSumMatchReference(KernelIsa isa)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var rng = new Random(5);
        foreach (var (d, stride, n) in new[] { (64, 256, 37), (40, 40, 5), (72, 200, 1), (128, 128, 300), (3, 7, 9) })
        {
            var q = new float[d];
            var rows = new float[(n - 1) * stride + d];
            for (int i = 0; i < d; i++) q[i] = (float)(rng.NextDouble() - 0.5);
            for (int i = 0; i < rows.Length; i++) rows[i] = (float)(rng.NextDouble() - 0.5);
            var s = new float[n];
            AttentionOps.Scores(q, rows, stride, 0.125f, s);
            var o = new float[d];
            AttentionOps.WeightedSum(s, rows, stride, o);
            for (int j = 0; j < n; j++)
            {
                double r = 0;
                for (int c = 0; c < d; c++) r += (double)q[c] * rows[j * stride + c];
                Assert.True(Math.Abs(r * 0.125 - s[j]) < 1e-5, $"{isa} d={d} score {j}");
            }
            for (int c = 0; c < d; c++)
            {
                double r = 0;
                for (int j = 0; j < n; j++) r += (double)s[j] * rows[j * stride + c];
                Assert.True(Math.Abs(r - o[c]) < 1e-4, $"{isa} d={d} output {c}");
            }
        }
    }

    /// <summary>
    /// The two-query calls (a GQA head pair sharing its key/value rows) give each query exactly the
    /// bits of a one-query call, and a position's score does not depend on how many positions
    /// follow it (blocks of eight keys with a ragged tail).
    /// </summary>
    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Scalar)]
    public void TwoQueryCallsEqualOneQueryCallsBitForBit(KernelIsa isa)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var rng = new Random(11);
        foreach (var (d, stride, n) in new[] { (64, 256, 1), (64, 256, 7), (64, 256, 8), (64, 128, 13), (128, 512, 70), (40, 40, 9) })
        {
            var q = new float[2 * d];
            var rows = new float[(n - 1) * stride + d];
            for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() - 0.5);
            for (int i = 0; i < rows.Length; i++) rows[i] = (float)(rng.NextDouble() - 0.5);
            var pair = new float[2 * n];
            AttentionOps.Scores(q, 2, rows, stride, 0.125f, pair);
            for (int g = 0; g < 2; g++)
            {
                var one = new float[n];
                AttentionOps.Scores(q.AsSpan(g * d, d), rows, stride, 0.125f, one);
                Assert.Equal(one, pair.AsSpan(g * n, n).ToArray());
                var first = new float[1];
                AttentionOps.Scores(q.AsSpan(g * d, d), rows.AsSpan(0, d), stride, 0.125f, first);
                Assert.Equal(one[0], first[0]);
            }
            var outPair = new float[2 * d];
            AttentionOps.WeightedSum(pair, 2, rows, stride, outPair);
            for (int g = 0; g < 2; g++)
            {
                var one = new float[d];
                AttentionOps.WeightedSum(pair.AsSpan(g * n, n), rows, stride, one);
                Assert.Equal(one, outPair.AsSpan(g * d, d).ToArray());
            }
        }
    }

    /// <summary>
    /// The fp16-cache overloads widen each element exactly and then do the fp32 calls' arithmetic: the same bits as
    /// the fp32 calls on the widened rows, one and two queries, every ISA, ragged key blocks and heads not a multiple
    /// of the vector width.
    /// </summary>
    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Scalar)]
    public void Fp16RowsGiveTheBitsOfTheirWidenedFp32Rows(KernelIsa isa)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var rng = new Random(17);
        foreach (var (d, stride, n) in new[] { (64, 256, 1), (64, 256, 13), (128, 128, 70), (40, 40, 9), (3, 7, 9) })
        {
            var half = new Half[(n - 1) * stride + d];
            for (int i = 0; i < half.Length; i++) half[i] = (Half)((rng.NextDouble() - 0.5) * (i % 29 == 0 ? 300 : 2));
            var wide = half.Select(h => (float)h).ToArray();
            var q = new float[2 * d];
            for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() - 0.5);
            foreach (int queries in new[] { 1, 2 })
            {
                var qs = q.AsSpan(0, queries * d);
                float[] s16 = new float[queries * n], s32 = new float[queries * n];
                AttentionOps.Scores(qs, queries, half, stride, 0.125f, s16);
                AttentionOps.Scores(qs, queries, wide, stride, 0.125f, s32);
                Assert.Equal(s32.Select(BitConverter.SingleToInt32Bits), s16.Select(BitConverter.SingleToInt32Bits));
                float[] o16 = new float[queries * d], o32 = new float[queries * d];
                AttentionOps.WeightedSum(s32, queries, half, stride, o16);
                AttentionOps.WeightedSum(s32, queries, wide, stride, o32);
                Assert.Equal(o32.Select(BitConverter.SingleToInt32Bits), o16.Select(BitConverter.SingleToInt32Bits));
            }
            float[] one16 = new float[n], one32 = new float[n];
            AttentionOps.Scores(q.AsSpan(0, d), half, stride, 0.5f, one16);
            AttentionOps.Scores(q.AsSpan(0, d), wide, stride, 0.5f, one32);
            Assert.Equal(one32.Select(BitConverter.SingleToInt32Bits), one16.Select(BitConverter.SingleToInt32Bits));
            float[] w16 = new float[d], w32 = new float[d];
            AttentionOps.WeightedSum(one32, half, stride, w16);
            AttentionOps.WeightedSum(one32, wide, stride, w32);
            Assert.Equal(w32.Select(BitConverter.SingleToInt32Bits), w16.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Throws<ArgumentException>(() => AttentionOps.Scores(new float[64], new Half[100], 64, 1f, new float[2]));
    }

    /// <summary>
    /// The multi-token prefill call gives every (token, head) exactly the bits of the one-token path
    /// (scores of the head pair over the token's own visible rows, softmax, weighted sum): fp32 and fp16
    /// caches, head widths 64 and 128 and off the transposed-tile path (40, 72: not multiples of 16; 80:
    /// a multiple of 16 but not of 32), GQA groups 1, 2, 3 and 4 split into head pairs as the session does,
    /// blocks with ragged causal tails, sliding windows wider and narrower than the block, long contexts
    /// whose blocks span many 16-row key tiles, and blocks of up to 32 queries (two or more weighted-sum groups
    /// of 16, the last one partial).
    /// </summary>
    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Scalar)]
    public void CausalBlockEqualsOneTokenCallsBitForBit(KernelIsa isa)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var rng = new Random(23);
        foreach (var (hd, group, position, tokens, block, window) in new[]
        {
            (64, 2, 0, 13, 8, int.MaxValue), (64, 1, 5, 9, 4, int.MaxValue), (128, 4, 3, 11, 8, int.MaxValue),
            (64, 3, 17, 7, 3, int.MaxValue), (128, 2, 0, 19, 8, 6), (64, 3, 9, 16, 5, 4), (40, 2, 2, 10, 4, int.MaxValue), (64, 2, 30, 1, 8, 7),
            (64, 2, 40, 37, 8, int.MaxValue), (128, 2, 97, 21, 16, int.MaxValue), (80, 3, 21, 30, 13, 17), (48, 1, 0, 40, 16, int.MaxValue),
            (64, 4, 5, 25, 8, 3), (72, 2, 7, 20, 8, int.MaxValue), (64, 2, 60, 24, 12, 50),
        })
            AssertBlocksMatchOneTokenCalls(rng, isa, hd, group, position, tokens, block, window, poisonLastRow: false);
    }

    /// <summary>
    /// Rows a token does not see never reach its result: with the block's last key and value rows set to
    /// infinity (an fp16 overflow) every earlier token still gets the one-token bits (finite), though the
    /// block computes scores for whole 16-row tiles and sums values for groups of queries.
    /// </summary>
    [Theory]
    [InlineData(KernelIsa.Avx512)]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Scalar)]
    public void RowsATokenDoesNotSeeDoNotReachIt(KernelIsa isa)
    {
        if (!KernelOptions.IsSupported(isa)) return;
        using var scope = new KernelScope(isa, 0);
        var rng = new Random(29);
        foreach (var (hd, group, position, tokens, block, window) in new[] { (64, 2, 20, 8, 8, int.MaxValue), (128, 4, 3, 16, 16, 9), (40, 2, 0, 8, 8, int.MaxValue) })
            AssertBlocksMatchOneTokenCalls(rng, isa, hd, group, position, tokens, block, window, poisonLastRow: true);
    }

    private static void AssertBlocksMatchOneTokenCalls(Random rng, KernelIsa isa, int hd, int group, int position, int tokens, int block, int window, bool poisonLastRow)
    {
        int qDim = group * hd, ctx = position + tokens;
        var q = new float[tokens * qDim];
        var keys32 = new float[ctx * hd];
        var values32 = new float[ctx * hd];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 4 - 2);
        var keys16 = new Half[ctx * hd];
        var values16 = new Half[ctx * hd];
        for (int i = 0; i < keys16.Length; i++)
        {
            keys16[i] = (Half)(rng.NextDouble() * 4 - 2);
            values16[i] = (Half)(rng.NextDouble() * 4 - 2);
        }
        foreach (bool fp16 in new[] { false, true })
        {
            for (int i = 0; i < keys32.Length; i++)
            {
                keys32[i] = fp16 ? (float)keys16[i] : (float)(rng.NextDouble() * 4 - 2);
                values32[i] = fp16 ? (float)values16[i] : (float)(rng.NextDouble() * 4 - 2);
            }
            if (poisonLastRow)
                for (int c = 0; c < hd; c++)
                {
                    int i = (ctx - 1) * hd + c;
                    keys16[i] = values16[i] = c % 2 == 0 ? Half.PositiveInfinity : Half.NegativeInfinity;
                    keys32[i] = values32[i] = (float)keys16[i];
                }
            var expected = new float[tokens * qDim];
            var actual = new float[tokens * qDim];
            var scratch = new float[AttentionOps.CausalBlockScratch(ctx, block, 2, hd)];
            for (int h = 0; h < group; h += 2)
            {
                int queries = Math.Min(2, group - h);
                // The one-token path (decode): each token over its own visible rows.
                for (int t = 0; t < tokens; t++)
                {
                    int end = position + t + 1, first = Math.Max(0, end - window), len = end - first;
                    var s = new float[queries * len];
                    var qt = q.AsSpan(t * qDim + h * hd, queries * hd);
                    var o = expected.AsSpan(t * qDim + h * hd, queries * hd);
                    if (fp16) AttentionOps.Scores(qt, queries, keys16.AsSpan(first * hd, len * hd), hd, 0.125f, s);
                    else AttentionOps.Scores(qt, queries, keys32.AsSpan(first * hd, len * hd), hd, 0.125f, s);
                    for (int g = 0; g < queries; g++) VectorOps.Softmax(s.AsSpan(g * len, len));
                    if (fp16) AttentionOps.WeightedSum(s, queries, values16.AsSpan(first * hd, len * hd), hd, o);
                    else AttentionOps.WeightedSum(s, queries, values32.AsSpan(first * hd, len * hd), hd, o);
                }
                for (int t0 = 0; t0 < tokens; t0 += block)
                {
                    int n = Math.Min(block, tokens - t0);
                    int end = position + t0 + 1, first = Math.Max(0, end - window), visible = end - first, rows = visible + n - 1;
                    int length = (n - 1) * qDim + queries * hd;
                    var qb = q.AsSpan(t0 * qDim + h * hd, length);
                    var ob = actual.AsSpan(t0 * qDim + h * hd, length);
                    Array.Fill(scratch, float.NaN); // stale scratch must not leak into results
                    if (fp16)
                        AttentionOps.CausalBlock(qb, qDim, n, queries, hd, keys16.AsSpan(first * hd, rows * hd), values16.AsSpan(first * hd, rows * hd),
                            hd, visible, window, 0.125f, ob, qDim, scratch);
                    else
                        AttentionOps.CausalBlock(qb, qDim, n, queries, hd, keys32.AsSpan(first * hd, rows * hd), values32.AsSpan(first * hd, rows * hd),
                            hd, visible, window, 0.125f, ob, qDim, scratch);
                }
            }
            // With the last row poisoned only the last token sees it.
            int checkedLength = poisonLastRow ? (tokens - 1) * qDim : expected.Length;
            Assert.All(expected.Take(checkedLength), x => Assert.True(float.IsFinite(x)));
            Assert.True(expected.Take(checkedLength).Select(BitConverter.SingleToInt32Bits).SequenceEqual(actual.Take(checkedLength).Select(BitConverter.SingleToInt32Bits)),
                $"{isa} fp16={fp16} hd={hd} group={group} position={position} tokens={tokens} block={block} window={window} poisoned={poisonLastRow}");
        }
    }

    [Fact]
    public void CausalBlockRejectsShapesThatDoNotFit()
    {
        var q = new float[2 * 64];
        var rows = new Half[4 * 64];
        var output = new float[2 * 64];
        var scratch = new float[AttentionOps.CausalBlockScratch(5, 2, 1, 64)];
        // Two tokens, the first seeing 4 rows: the second needs a fifth.
        var e = Assert.Throws<ArgumentException>(() => AttentionOps.CausalBlock(q, 64, 2, 1, 64, rows, rows, 64, 4, int.MaxValue, 1f, output, 64, scratch));
        Assert.Contains("rows too short", e.Message);
        e = Assert.Throws<ArgumentException>(() => AttentionOps.CausalBlock(q, 64, 2, 1, 64, rows, rows, 64, 3, int.MaxValue, 1f, output, 64, new float[10]));
        Assert.Contains("scratch has 10 floats", e.Message);
        e = Assert.Throws<ArgumentException>(() => AttentionOps.CausalBlock(q, 64, 3, 1, 64, rows, rows, 64, 2, int.MaxValue, 1f, output, 64, scratch));
        Assert.Contains("queries: 3 tokens", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionOps.CausalBlock(q, 64, 1, 3, 64, rows, rows, 64, 2, int.MaxValue, 1f, output, 64, scratch));
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionOps.CausalBlock(q, 64, 1, 1, 64, rows, rows, 64, 2, 0, 1f, output, 64, scratch));
    }
}
