// quantsharp quantize --report DIR on real models: the JSON against the run's log and the written file, the charts, the folder rules.
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Reporting.Charts;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Report;

[Trait("Category", "RealModel")]
public sealed class QuantizeReportTests
{
    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");
    private static string Sotu => SharedData.Model("sotu-llama-30m");
    private static string Text => SharedData.DataFile("sotu", "test-2010-on.txt");

    // GPTQ into a Hugging Face GPTQ folder (sotu-llama-30m, 4 × 64 calibration tokens): every quantized linear is in the
    // report, with the weight and output errors the run logged, and both charts are PNGs of the documented size.
    [Fact]
    public void GptqReportHasEveryQuantizedTensorWithTheErrorsTheRunLogged()
    {
        using var dir = new TempDirectory();
        string output = dir.File("sotu-gptq"), report = dir.File("report");
        var r = QuantSharpProcess.Run("quantize", Sotu, "--method", "gptq", "--format", "hf-gptq", "--calib", Text, "--nsamples", "4", "--seqlen", "64",
            "-o", output, "--report", report);
        Assert.True(r.Code == 0, r.Err);
        var json = ReportFiles.Json(report);
        Assert.Equal("gptq", json.GetProperty("method").GetString());
        Assert.Equal("hf-gptq", json.GetProperty("format").GetString());
        var tensors = json.GetProperty("tensors").EnumerateArray().ToArray();

        // Every packed weight of the output folder, and nothing else, is reported once.
        var packed = new List<string>();
        foreach (var f in Directory.GetFiles(output, "*.safetensors"))
        {
            using var st = new SafetensorsFile(f);
            packed.AddRange(st.TensorNames.Where(n => n.EndsWith(".qweight", StringComparison.Ordinal)).Select(n => n[..^".qweight".Length] + ".weight"));
        }
        Assert.Equal(56, packed.Count); // 8 layers × 7 linears
        Assert.Equal(packed.Order(), tensors.Select(t => t.GetProperty("name").GetString()!).Order());

        var logged = ReportFiles.LogLines(r.Err);
        Assert.Equal(tensors.Length, logged.Count);
        foreach (var t in tensors)
        {
            string name = t.GetProperty("name").GetString()!;
            double weight = t.GetProperty("weightError").GetDouble(), outErr = t.GetProperty("outputError").GetDouble();
            // Exactly the values the run printed (the log writes them in round-trip form).
            Assert.Equal(logged[name].Weight, weight);
            Assert.Equal(logged[name].Output, outErr);
            Assert.InRange(weight, 0.01, 0.5);
            // GPTQ minimises the output error on these inputs: below the weight error for every linear.
            Assert.InRange(outErr, 1e-4, weight);
            Assert.Equal("int4 g128", t.GetProperty("type").GetString());
            Assert.InRange(t.GetProperty("bitsPerWeight").GetDouble(), 4.1, 4.3);
            Assert.True(t.GetProperty("layer").GetInt32() is >= 0 and < 8);
            Assert.True(t.GetProperty("seconds").GetDouble() > 0);
        }
        Assert.Equal(["attn_k", "attn_output", "attn_q", "attn_v", "ffn_down", "ffn_gate", "ffn_up"],
            tensors.Select(t => t.GetProperty("kind").GetString()!).Distinct().Order());
        Assert.Equal(ReportSize(output), json.GetProperty("outputBytes").GetInt64());
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(report, "weight-error-by-layer.png")));
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(report, "output-error-by-layer.png")));
        Assert.Empty(Directory.GetDirectories(dir.Path, "*.tmp-*"));
    }

    // A named mix (no calibration): weight errors only, every 2-D weight of the file listed as quantized (with the file's
    // type) or unquantized, and each weight error equal to one recomputed from the written file against an F32 export.
    [Fact]
    public void MixReportWeightErrorsMatchTheWrittenFile()
    {
        using var dir = new TempDirectory();
        string output = dir.File("stories-q4_k_m.gguf"), report = dir.File("report");
        var r = QuantSharpProcess.Run("quantize", Stories, "--type", "Q4_K_M", "-o", output, "--report", report);
        Assert.True(r.Code == 0, r.Err);
        var json = ReportFiles.Json(report);
        Assert.Equal("Q4_K_M", json.GetProperty("method").GetString());
        var tensors = json.GetProperty("tensors").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        var floats = json.GetProperty("unquantized").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.All(tensors.Values, t => Assert.Equal(System.Text.Json.JsonValueKind.Null, t.GetProperty("outputError").ValueKind));

        string f32 = dir.File("stories-f32.gguf");
        using (var model = LlamaModel.Load(Stories)) GgufLlamaExporter.Export(model, f32, GgmlType.F32);
        using var q = new GgufFile(output);
        using var reference = new GgufFile(f32);
        var matrices = q.Tensors.Where(t => t.Dimensions.Length >= 2).ToArray();
        Assert.Equal(matrices.Select(t => t.Name).Order(), tensors.Keys.Concat(floats.Keys).Order());
        Assert.Contains(matrices, t => t.Type == GgmlType.Q4_K || t.Type == GgmlType.Q5_0);
        var logged = ReportFiles.LogLines(r.Err);
        foreach (var info in matrices)
        {
            if (floats.TryGetValue(info.Name, out var fl))
            {
                Assert.Equal(info.Type.ToString(), fl.GetProperty("type").GetString(), ignoreCase: true);
                continue;
            }
            var t = tensors[info.Name];
            var core = GgmlTypeInfo.Of(info.Type).CoreType!.Value;
            Assert.Equal(core.ToString(), t.GetProperty("type").GetString());
            var back = new float[info.ElementCount];
            BlockDequantizer.DequantizeRow(core, q.GetRawBytes(info.Name), back);
            var original = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(reference.GetRawBytes(info.Name));
            double num = 0, den = 0;
            for (int i = 0; i < back.Length; i++) { double d = original[i] - back[i]; num += d * d; den += (double)original[i] * original[i]; }
            double expected = Math.Sqrt(num / den), reported = t.GetProperty("weightError").GetDouble();
            Assert.True(Math.Abs(reported - expected) <= 1e-5 * expected, $"{info.Name}: reported {reported}, recomputed {expected}");
            Assert.Equal(8.0 * info.ByteSize / info.ElementCount, t.GetProperty("bitsPerWeight").GetDouble(), 9);
            Assert.Equal(logged[info.Name].Weight, reported);
            Assert.Null(logged[info.Name].Output);
        }
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(report, "weight-error-by-layer.png")));
        Assert.False(File.Exists(Path.Combine(report, "output-error-by-layer.png")));
    }

    // --method rotate into a float GGUF rounds nothing: every linear is kept in F16 after the rotation. The report lists
    // them with the other float weights (unquantized, the file's type), none as quantized with F16's rounding presented as
    // a weight error, and the run logs no per-tensor error line; the CLI summary says the same.
    [Fact]
    public void RotateIntoAFloatTypeReportsTheLinearsAsKeptInFloatNotQuantized()
    {
        using var dir = new TempDirectory();
        string output = dir.File("sotu-rotated-f16.gguf"), report = dir.File("report");
        var r = QuantSharpProcess.Run("quantize", Sotu, "--method", "rotate", "--format", "gguf:F16", "-o", output, "--report", report);
        Assert.True(r.Code == 0, r.Err);
        var json = ReportFiles.Json(report);
        Assert.Equal("rotate", json.GetProperty("method").GetString());
        Assert.Equal(0, json.GetProperty("quantizedTensors").GetInt32());
        Assert.Equal(0, json.GetProperty("quantizedWeights").GetInt64());
        Assert.Empty(json.GetProperty("tensors").EnumerateArray());
        Assert.Empty(ReportFiles.LogLines(r.Err));
        var floats = json.GetProperty("unquantized").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        using var file = new GgufFile(output);
        var matrices = file.Tensors.Where(t => t.Dimensions.Length >= 2).ToArray();
        // 8 layers × 7 linears, the embedding and the untied (rotated) head: every one stored as F16 and listed so.
        Assert.Equal(58, matrices.Length);
        Assert.Equal(matrices.Select(t => t.Name).Order(), floats.Keys.Order());
        Assert.All(matrices, t => Assert.Equal(GgmlType.F16, t.Type));
        Assert.All(floats.Values, f => Assert.Equal("F16", f.GetProperty("type").GetString()));
        Assert.Equal(56, floats.Values.Count(f => f.GetProperty("layer").ValueKind == System.Text.Json.JsonValueKind.Number));
        Assert.Contains($"report: {report} (0 quantized tensors, 58 kept in a float type, not quantized)", r.Out.Split('\n').Select(l => l.TrimEnd('\r')));
    }

    // The report measures, it does not change the run: the same bytes with and without --report (RTN with calibration
    // collects Σxxᵀ only for the report). A folder holding a previous report is replaced; one with other files is refused.
    [Fact]
    public void ReportLeavesTheOutputUnchangedAndReplacesOnlyAPreviousReport()
    {
        using var dir = new TempDirectory();
        string plain = dir.File("plain.gguf"), reported = dir.File("reported.gguf"), report = dir.File("report");
        string[] args = [Stories, "--method", "rtn", "--format", "gguf:Q4_K", "--calib", Text, "--nsamples", "4", "--seqlen", "32"];
        var a = QuantSharpProcess.Run(["quantize", .. args, "-o", plain]);
        Assert.True(a.Code == 0, a.Err);
        Assert.Empty(ReportFiles.LogLines(a.Err));
        var b = QuantSharpProcess.Run(["quantize", .. args, "-o", reported, "--report", report]);
        Assert.True(b.Code == 0, b.Err);
        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(reported));
        var first = ReportFiles.Json(report).GetProperty("tensors").EnumerateArray().ToArray();
        Assert.Contains(first, t => t.GetProperty("outputError").ValueKind == System.Text.Json.JsonValueKind.Number);

        // Again into the same folder: the previous report is replaced as a whole.
        File.Delete(reported);
        var again = QuantSharpProcess.Run(["quantize", .. args, "-o", reported, "--report", report]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal(["output-error-by-layer.png", "report.json", "weight-error-by-layer.png"], Directory.GetFiles(report).Select(Path.GetFileName).Order());

        File.WriteAllText(Path.Combine(report, "notes.txt"), "mine");
        File.Delete(reported);
        var refused = QuantSharpProcess.Run(["quantize", .. args, "-o", reported, "--report", report]);
        Assert.Equal(2, refused.Code);
        Assert.StartsWith("error: --report (ReportDirectory): ", refused.Err.Trim());
        Assert.Contains("'notes.txt'", refused.Err);
        Assert.False(File.Exists(reported));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(report, "notes.txt")));
    }

    // The library draws no charts of its own (ScottPlot is not a dependency of the QuantSharp package): without
    // ReportCharts the report is report.json only and the log says so; with the ScottPlot renderer of
    // QuantSharp.Reporting.Charts the same request writes the same JSON figures and both charts.
    [Fact]
    public void LibraryWritesChartsOnlyThroughAGivenRenderer()
    {
        using var dir = new TempDirectory();
        var log = new List<string>();
        var request = new QuantizeRequest
        {
            Model = Stories, Output = dir.File("plain.gguf"), Method = QuantizeMethod.Rtn, Format = "gguf:Q4_K",
            Calibration = [Text], Samples = 2, SequenceLength = 32, ReportDirectory = dir.File("plain-report"), OnInfo = log.Add,
        };
        var plain = QuantSharpModel.Quantize(request);
        Assert.Equal(["report.json"], Directory.GetFiles(plain.ReportDirectory!).Select(Path.GetFileName));
        Assert.Contains(log, l => l.StartsWith("report: report.json only, no charts", StringComparison.Ordinal) && l.Contains("QuantSharp.Reporting.Charts"));

        log.Clear();
        var drawn = QuantSharpModel.Quantize(request with
        {
            Output = dir.File("drawn.gguf"), ReportDirectory = dir.File("drawn-report"), ReportCharts = new ScottPlotReportChartRenderer(),
        });
        Assert.Equal(["output-error-by-layer.png", "report.json", "weight-error-by-layer.png"], Directory.GetFiles(drawn.ReportDirectory!).Select(Path.GetFileName).Order());
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(drawn.ReportDirectory!, "weight-error-by-layer.png")));
        Assert.Equal((900, 540), ReportFiles.Png(Path.Combine(drawn.ReportDirectory!, "output-error-by-layer.png")));
        Assert.DoesNotContain(log, l => l.StartsWith("report: ", StringComparison.Ordinal));
        static string[] Figures(string report) => [.. ReportFiles.Json(report).GetProperty("tensors").EnumerateArray().Select(t =>
            $"{t.GetProperty("name")} {t.GetProperty("type")} {t.GetProperty("weightError").GetRawText()} {t.GetProperty("outputError").GetRawText()}")];
        var figures = Figures(plain.ReportDirectory!);
        Assert.NotEmpty(figures);
        Assert.Equal(figures, Figures(drawn.ReportDirectory!));
    }

    // Folders a report may not use, refused by the request before any work with the option named.
    [Fact]
    public void BadReportFoldersAreRefusedBeforeAnyWork()
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.gguf");
        QuantizeRequestException Refused(QuantizeRequest request)
        {
            var ex = Assert.Throws<QuantizeRequestException>(request.Validate);
            Assert.Equal("--report", ex.Option);
            Assert.Equal(nameof(QuantizeRequest.ReportDirectory), ex.Property);
            return ex;
        }
        var mix = new QuantizeRequest { Model = Stories, Output = output, Type = "Q4_K_M" };
        Assert.Contains("input model folder", Refused(new QuantizeRequest { Model = Sotu, Output = output, Type = "Q4_K_M", ReportDirectory = Sotu }).Message);
        Assert.Contains("input model folder", Refused(new QuantizeRequest { Model = Sotu, Output = output, Type = "Q4_K_M", ReportDirectory = Path.Combine(Sotu, "report") }).Message);
        Assert.Contains("is the output", Refused(mix with { ReportDirectory = output }).Message);
        Assert.Contains("inside the output", Refused(new QuantizeRequest { Model = Sotu, Output = dir.File("hf"), Method = QuantizeMethod.Rtn, Format = "hf-gptq", ReportDirectory = dir.File("hf/report") }).Message);
        Assert.Contains("inside the report folder", Refused(new QuantizeRequest { Model = Stories, Output = dir.File("r/out.gguf"), Type = "Q4_K_M", ReportDirectory = dir.File("r") }).Message);
        File.WriteAllText(dir.File("file"), "x");
        Assert.Contains("is a file", Refused(mix with { ReportDirectory = dir.File("file") }).Message);
        Assert.Contains("empty", Refused(mix with { ReportDirectory = " " }).Message);
        Directory.CreateDirectory(dir.File("calib"));
        File.Copy(Text, dir.File("calib/text.txt"));
        Assert.Contains("contains the input", Refused(new QuantizeRequest
        {
            Model = Stories, Output = output, Method = QuantizeMethod.Rtn, Format = "gguf:Q4_K", Calibration = [dir.File("calib/text.txt")], ReportDirectory = dir.File("calib"),
        }).Message);
        Assert.False(File.Exists(output));
    }

    private static long ReportSize(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
}
