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
}
