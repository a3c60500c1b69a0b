// The quantization report of a mixture-of-experts model: one record per expert matrix, as the run logged it.
using QuantSharp.Reporting.Charts;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Report;

[Trait("Category", "RealModel")]
public sealed class MoeReportTests(Xunit.Abstractions.ITestOutputHelper output)
{
    // GPTQ into Q8_0 of the synthetic Mixtral fixture (2 layers, 8 experts, hidden 256) through the library: every
    // expert's gate/up/down is reported with its expert index; each record is the line the run logged.
    [Fact]
    public void MixtureOfExpertsReportListsEveryExpertMatrix()
    {
        using var dir = new TempDirectory();
        var spec = ArchitectureSpec.Mixtral;
        string folder = ArchitectureFixture.Write(spec, dir.File("mixtral"));
        var log = new List<string>();
        var result = QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = folder, Output = dir.File("moe.gguf"), Method = QuantizeMethod.Gptq, Format = "gguf:Q8_0",
            Calibration = [SharedData.DataFile("sotu", "test-2010-on.txt")], Samples = 4, SequenceLength = 64,
            ReportDirectory = dir.File("report"), ReportCharts = new ScottPlotReportChartRenderer(), OnInfo = log.Add,
        });
        output.WriteLine($"load {result.LoadTime.TotalSeconds:F2} s, calibration {result.CalibrationTime.TotalSeconds:F2} s, run {result.RunTime.TotalSeconds:F2} s, quantizers {result.Tensors.Sum(t => t.Seconds):F2} s");
        var layered = result.Tensors.Where(t => t.Layer != null).ToArray();
        Assert.Equal(spec.Layers * (4 + 3 * spec.Experts), layered.Length);
        foreach (var kind in new[] { "ffn_gate", "ffn_up", "ffn_down" })
            for (int l = 0; l < spec.Layers; l++)
                Assert.Equal(Enumerable.Range(0, spec.Experts), layered.Where(t => t.Kind == kind && t.Layer == l).Select(t => t.Expert!.Value).Order());
        Assert.All(layered.Where(t => t.Kind.StartsWith("attn", StringComparison.Ordinal)), t => Assert.Null(t.Expert));
        Assert.All(layered, t => Assert.Equal("Q8_0", t.Type));
        Assert.All(layered, t => Assert.InRange(t.WeightError, 1e-4, 0.1));
        // Experts that calibration tokens reached have an output error; the attention linears always do.
        Assert.All(layered.Where(t => t.Expert == null), t => Assert.NotNull(t.OutputError));
        Assert.Contains(layered, t => t.Expert != null && t.OutputError != null);
        var logged = ReportFiles.LogLines(string.Join('\n', log));
        Assert.Equal(result.Tensors.Count, log.Count(l => l.StartsWith("tensor ", StringComparison.Ordinal)));
        foreach (var t in layered.Where(t => t.Expert == null))
            Assert.Equal((t.WeightError, t.OutputError), logged[t.Name]);
        var json = ReportFiles.Json(result.ReportDirectory!);
        Assert.Equal(result.Tensors.Count, json.GetProperty("tensors").GetArrayLength());
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(result.ReportDirectory!, "output-error-by-layer.png")));
    }
}
