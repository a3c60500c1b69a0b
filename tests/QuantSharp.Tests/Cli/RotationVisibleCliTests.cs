// `inspect` and `quantize` (its log and --report's report.json) show the rotation a model's weights carry, and "none"/nothing without one.
using System.Text.Json.Nodes;

namespace QuantSharp.Tests.Cli;

/// <summary>
/// The rotation record (config.json's quantsharp_rotation, GGUF's quantsharp.rotation.*) as a user sees it, on real
/// rotated outputs of sotu-llama-30m: a <c>quantize --method rotate+rtn</c> GGUF and a <c>rotate</c> folder (R2 off), each
/// inspected and quantized with <c>--report</c>; an unrotated folder and GGUF say "none" and their report holds null.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class RotationVisibleCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-rotshow-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Sotu => SharedData.Model("sotu-llama-30m");

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var r = QuantSharpProcess.Run(args);
        Assert.True(r.Code == 0, $"quantsharp {string.Join(' ', args)}: {r.Err}");
        return r;
    }

    private static JsonNode? ReportRotation(string report)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(report, "report.json")))!.AsObject();
        Assert.True(json.ContainsKey("rotation"), "report.json has no rotation property");
        return json["rotation"];
    }

    [Fact]
    public void InspectAndQuantizeReportShowTheRotationOfGgufFilesAndFolders()
    {
        // rotate+rtn into a GGUF: the run's log and report, then inspect of the file.
        string gguf = Path.Combine(_dir, "rot.gguf"), ggufReport = Path.Combine(_dir, "rot-report");
        var q = Run("quantize", Sotu, "--method", "rotate+rtn", "--format", "gguf:Q4_0", "--rotation-seed", "5", "-o", gguf, "--report", ggufReport);
        Assert.Contains("rotation: seed 5; R1 randomized_hadamard sylvester 2^9 (order 512); R2 randomized_hadamard sylvester 2^6 (order 64, seed ", q.Out);
        var rep = ReportRotation(ggufReport)!;
        Assert.Equal(5UL, rep["seed"]!.GetValue<ulong>());
        Assert.Equal(512, rep["r1"]!["size"]!.GetValue<int>());
        Assert.Equal("sylvester 2^9", rep["r1"]!["construction"]!.GetValue<string>());
        Assert.Equal(64, rep["r2"]!["size"]!.GetValue<int>());
        Assert.True(rep["norms_folded"]!.GetValue<bool>());
        var i = Run("inspect", gguf);
        Assert.Matches(@"rotation +seed 5, norms folded, head untied", i.Out);
        Assert.Contains("rotation R1: randomized_hadamard, sylvester 2^9, order 512, seed 5", i.Out);
        Assert.Contains($"rotation R2: randomized_hadamard, sylvester 2^6, order 64, seed {unchecked(5 + 0x9E3779B97F4A7C15UL)}", i.Out);

        // A rotated Hugging Face folder (R2 off): inspect, and a mix quantized from it carries and shows its record.
        string folder = Path.Combine(_dir, "rot-folder"), mix = Path.Combine(_dir, "rot-q8.gguf"), mixReport = Path.Combine(_dir, "mix-report");
        Run("rotate", Sotu, "--out", folder, "--seed", "7", "--no-r2");
        var f = Run("inspect", folder);
        Assert.Matches(@"rotation +seed 7, norms folded, head untied", f.Out);
        Assert.Contains("rotation R1: randomized_hadamard, sylvester 2^9, order 512, seed 7", f.Out);
        Assert.Contains("rotation R2: off", f.Out);
        var m = Run("quantize", folder, "--type", "Q8_0", "-o", mix, "--report", mixReport);
        Assert.Contains("rotation: seed 7; R1 randomized_hadamard sylvester 2^9 (order 512); R2 off", m.Out);
        rep = ReportRotation(mixReport)!;
        Assert.Equal(7UL, rep["seed"]!.GetValue<ulong>());
        Assert.Null(rep["r2"]);
        Assert.Contains("rotation R2: off", Run("inspect", mix).Out);

        // Unrotated: the folder and a GGUF say none, the quantize log says nothing, the report holds null.
        string plain = Path.Combine(_dir, "plain-q8.gguf"), plainReport = Path.Combine(_dir, "plain-report");
        Assert.Matches(@"rotation +none", Run("inspect", Sotu).Out);
        var p = Run("quantize", Sotu, "--type", "Q8_0", "-o", plain, "--report", plainReport);
        Assert.DoesNotContain("rotation", p.Out);
        Assert.Null(ReportRotation(plainReport));
        var pi = Run("inspect", plain);
        Assert.Matches(@"rotation +none", pi.Out);
        Assert.DoesNotContain("rotation R1", pi.Out);
    }
}
