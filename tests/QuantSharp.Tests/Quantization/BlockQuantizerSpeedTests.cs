// Quantizing a whole real model per type takes seconds: BlockQuantizer's parallel row loop on sotu-llama-30m.
using System.Diagnostics;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Quantization.BlockFormats;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Quantization;

[Trait("Category", "RealModel")]
public sealed class BlockQuantizerSpeedTests(ITestOutputHelper output)
{
    /// <summary>Generous ceiling per type for the ~29 M weights on a small shared CI machine (measured: a few seconds).</summary>
    private const double MaxSecondsPerType = 60;

    [Fact]
    public void Whole_sotu_model_quantizes_in_seconds_per_type()
    {
        using var model = SafetensorsModel.Open(SharedData.Model("sotu-llama-30m"));
        var tensors = new List<(float[] Values, int Columns)>();
        long total = 0;
        foreach (var name in model.TensorNames)
        {
            var t = model.Get(name);
            if (t.Shape.Length != 2) continue;
            tensors.Add((t.ToFloat32(), checked((int)t.Columns)));
            total += t.ElementCount;
        }
        Assert.True(total > 20_000_000, $"expected the whole model, got {total} weights");

        foreach (var type in new[] { DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.IQ4_NL, DType.IQ4_XS })
        {
            foreach (bool withImportance in new[] { false, true })
            {
                var sw = Stopwatch.StartNew();
                foreach (var (values, columns) in tensors)
                {
                    var dst = new byte[DTypeInfo.RowBytes(type, columns) * (values.Length / columns)];
                    var importance = withImportance ? BlockTestData.ActivationImportance(columns, columns, samples: 4) : null;
                    BlockQuantizer.QuantizeRows(type, values, columns, dst, importance);
                }
                sw.Stop();
                output.WriteLine($"{type,-7} {(withImportance ? "imatrix" : "plain"),-8} {total / 1e6:F1} M weights in {sw.Elapsed.TotalSeconds:F2} s ({total / sw.Elapsed.TotalSeconds / 1e6:F1} M/s, {Environment.ProcessorCount} cores)");
                Assert.True(sw.Elapsed.TotalSeconds < MaxSecondsPerType, $"{type}: {sw.Elapsed.TotalSeconds:F1} s");
            }
        }
    }
}
