// Whole-model quantization time per k-quant type on sotu-llama-30m (~29M weights), reference and imatrix.
using System.Diagnostics;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Quantization;

[Trait("Category", "RealModel")]
public sealed class KQuantSpeedTests(ITestOutputHelper output)
{
    /// <summary>
    /// Generous ceiling per type and mode: the point is "seconds, not minutes" on a small shared CI
    /// machine (2 cores); the measured times are printed.
    /// </summary>
    private const double MaxSecondsPerType = 90;

    [Fact]
    public void QuantizesWholeModelInSeconds()
    {
        var mats = KQuantTestSupport.SotuMatrices().ToList();
        long values = 0;
        foreach (var m in mats) values += m.Data.Length;
        output.WriteLine($"sotu-llama-30m: {mats.Count} matrices, {values / 1e6:F1}M weights, {Environment.ProcessorCount} cores");
        foreach (var type in KQuantTestSupport.Types)
        {
            foreach (bool withImportance in new[] { false, true })
            {
                // One small matrix first, so the timing is of optimized code rather than the JIT's first tier.
                var (_, first, firstLength) = mats[^1];
                KQuantTestSupport.QuantizeRows(type, first.AsSpan(0, 64 * firstLength).ToArray(), firstLength, withImportance ? new float[firstLength].Select(_ => 1f).ToArray() : null);
                var sw = Stopwatch.StartNew();
                foreach (var (_, data, rowLength) in mats)
                {
                    var imp = withImportance ? KQuantTestSupport.RealisticImportance(rowLength, rowLength) : null;
                    KQuantTestSupport.QuantizeRows(type, data, rowLength, imp);
                }
                double s = sw.Elapsed.TotalSeconds;
                output.WriteLine($"{type} {(withImportance ? "imatrix" : "reference")}: {s:F2} s ({values / s / 1e6:F1}M weights/s)");
                Assert.True(s < MaxSecondsPerType, $"{type}: {s:F1} s for the whole model");
            }
        }
    }

    [OracleFact]
    [Trait("Category", "Oracle")]
    public void GgmlWholeModelTimeForComparison()
    {
        // Single-threaded ggml_quantize_chunk per matrix, to put our (parallel) times in context.
        var mats = KQuantTestSupport.SotuMatrices().ToList();
        foreach (var type in KQuantTestSupport.Types)
        {
            if (type == Core.Tensors.DType.Q8_K) continue;
            var sw = Stopwatch.StartNew();
            foreach (var (_, data, rowLength) in mats)
                KQuantTestSupport.GgmlQuantize(type, data, data.Length / rowLength, rowLength, null);
            output.WriteLine($"ggml {type} reference, 1 thread: {sw.Elapsed.TotalSeconds:F2} s");
        }
    }
}
