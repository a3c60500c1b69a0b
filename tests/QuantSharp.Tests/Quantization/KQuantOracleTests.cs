// Byte-for-byte comparison of our k-quant quantizers with ggml b8390's (ggml_quantize_chunk, i.e.
// llama-quantize per tensor), with and without importance, on random rows and on real weights.
using System.Text;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Quantization;

[Trait("Category", "Oracle")]
public sealed class KQuantOracleTests(ITestOutputHelper output)
{
    /// <summary>Share of blocks that must be byte-identical to ggml's.</summary>
    private const double RequiredExactRate = 0.999;

    /// <summary>A differing block may not reconstruct worse than ggml's by more than this, relatively.</summary>
    private const double ErrorTolerance = 1e-6;

    private enum Importance { None, Random, Realistic }

    [OracleFact]
    public void RandomRowsMatchGgml()
    {
        const int rowLength = 1024, rows = 1400;
        var data = KQuantTestSupport.RandomRows(20240611, rows, rowLength);
        Compare("random", [("random rows", data, rowLength)]);
    }

    [OracleFact]
    [Trait("Category", "RealModel")]
    public void RealWeightsMatchGgml()
    {
        // Layer 0's seven projections (rows of 512 and 1536) and the first 512 rows of the embedding.
        var mats = new List<(string, float[], int)>();
        foreach (var (name, data, rowLength) in KQuantTestSupport.SotuMatrices(n => n.StartsWith("model.layers.0.", StringComparison.Ordinal) || n == "model.embed_tokens.weight"))
            mats.Add((name, name.Contains("embed", StringComparison.Ordinal) ? data[..(512 * rowLength)] : data, rowLength));
        Assert.Equal(8, mats.Count);
        Compare("sotu layer 0", mats);
    }

    private void Compare(string label, List<(string Name, float[] Data, int RowLength)> mats)
    {
        var failures = new StringBuilder();
        output.WriteLine($"{label}: exact blocks / total (worst relative weighted-error excess of a differing block)");
        foreach (var type in KQuantTestSupport.Types)
        {
            var line = new StringBuilder($"{type,-5}");
            foreach (var mode in new[] { Importance.None, Importance.Random, Importance.Realistic })
            {
                long exact = 0, total = 0;
                double worst = 0;
                foreach (var (name, data, rowLength) in mats)
                {
                    float[]? imp = mode switch
                    {
                        Importance.Random => KQuantTestSupport.RandomImportance(rowLength, rowLength),
                        Importance.Realistic => KQuantTestSupport.RealisticImportance(rowLength + 1, rowLength),
                        _ => null,
                    };
                    int rows = data.Length / rowLength;
                    var ours = KQuantTestSupport.QuantizeRows(type, data, rowLength, imp);
                    // ggml has no imatrix Q8_K: its reference quantizer is what an importance vector must leave unchanged.
                    var ggml = KQuantTestSupport.GgmlQuantize(type, data, rows, rowLength, type == DType.Q8_K ? null : imp);
                    Assert.Equal(ggml.Length, ours.Length);
                    var (e, t, w) = CountBlocks(type, data, rowLength, imp, ours, ggml);
                    exact += e; total += t; worst = Math.Max(worst, w);
                    if (w > ErrorTolerance) failures.AppendLine($"{type} {mode} {name}: a differing block reconstructs {w:E2} relatively worse than ggml's");
                }
                double rate = (double)exact / total;
                line.Append($"  {mode}: {exact}/{total} = {100 * rate:F3}%" + (exact < total ? $" (worst {worst:E1})" : ""));
                if (rate < RequiredExactRate) failures.AppendLine($"{type} {mode}: only {100 * rate:F3}% of blocks are byte-identical");
            }
            output.WriteLine(line.ToString());
        }
        Assert.True(failures.Length == 0, failures.ToString());
    }

    /// <summary>
    /// Counts identical blocks; for each differing one, returns the largest relative excess of our
    /// weighted squared reconstruction error over ggml's (both dequantized by ggml).
    /// </summary>
    private static (long Exact, long Total, double WorstExcess) CountBlocks(DType type, float[] data, int rowLength, float[]? imp, byte[] ours, byte[] ggml)
    {
        int bb = DTypeInfo.BlockBytes(type);
        long blocks = ours.Length / bb, exact = 0;
        double worst = 0;
        for (long b = 0; b < blocks; b++)
        {
            var a = ours.AsSpan((int)(b * bb), bb);
            var g = ggml.AsSpan((int)(b * bb), bb);
            if (a.SequenceEqual(g)) { exact++; continue; }
            var ya = KQuantTestSupport.GgmlDequantize(type, a, 256);
            var yg = KQuantTestSupport.GgmlDequantize(type, g, 256);
            double ea = 0, eg = 0;
            for (int i = 0; i < 256; i++)
            {
                long idx = b * 256 + i;
                double w = imp is null ? 1 : imp[idx % rowLength];
                double x = data[idx];
                ea += w * (x - ya[i]) * (x - ya[i]);
                eg += w * (x - yg[i]) * (x - yg[i]);
            }
            double excess = eg > 0 ? (ea - eg) / eg : (ea > 0 ? double.PositiveInfinity : 0);
            worst = Math.Max(worst, excess);
        }
        return (exact, blocks, worst);
    }
}
