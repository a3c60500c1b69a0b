// The quantsharp command end to end: real runs, and bad input giving one clear line and a non-zero exit.
using System.Diagnostics;

namespace QuantSharp.Tests.Cli;

[Trait("Category", "RealModel")]
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => QuantSharpProcess.Run(args);


    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");

    [Fact]
    public void RunGeneratesTheSameTextForTheSameSeed()
    {
        var a = Run("run", Stories, "-p", "Once upon a time", "-n", "24", "--temperature", "0.8", "--seed", "42");
        var b = Run("run", Stories, "-p", "Once upon a time", "-n", "24", "--temperature", "0.8", "--seed", "42", "--threads", "1");
        Assert.Equal(0, a.Code);
        Assert.StartsWith("Once upon a time", a.Out);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void RunWithAnF16KvCacheGeneratesTheSameTextOnAnyThreadCount()
    {
        var a = Run("run", Stories, "-p", "Once upon a time", "-n", "24", "--kv-cache", "f16", "--threads", "2");
        var b = Run("run", Stories, "-p", "Once upon a time", "-n", "24", "--kv-cache", "f16", "--threads", "1");
        Assert.True(a.Code == 0, a.Err);
        Assert.StartsWith("Once upon a time", a.Out);
        Assert.True(a.Out.Length > "Once upon a time".Length + 20, a.Out);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void ConvertThenInspectAndPerplexityOnTheGguf()
    {
        string gguf = Path.Combine(_dir, "stories.gguf");
        var c = Run("convert", Stories, "-o", gguf, "--outtype", "f32");
        Assert.True(c.Code == 0, c.Err);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
        var i = Run("inspect", gguf);
        Assert.Equal(0, i.Code);
        Assert.Contains("260,032", i.Out);
        var p = Run("perplexity", gguf, "--text", SharedData.DataFile("tinystories", "valid-sample.txt"), "--style", "documents");
        Assert.True(p.Code == 0, p.Err);
        Assert.Contains("PPL = 3.33", p.Out);
    }

    [Fact]
    public void ConvertRefusesToOverwriteItsInput()
    {
        string copy = Path.Combine(_dir, "stories.bin");
        File.Copy(Stories, copy);
        File.Copy(SharedData.Model("stories260K", "tok512.bin"), Path.Combine(_dir, "tok512.bin"));
        byte[] before = File.ReadAllBytes(copy);
        var r = Run("convert", copy, "-o", copy);
        Assert.NotEqual(0, r.Code);
        Assert.Equal(before, File.ReadAllBytes(copy));
    }

    [Fact]
    public async Task CtrlCLeavesNoOutputFileBehind()
    {
        string output = Path.Combine(_dir, "base.qslogits");
        string dll = QuantSharpProcess.DllPath;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "perplexity", SharedData.Model("sotu-llama-30m"), "--text", SharedData.DataFile("sotu", "test-2010-on.txt"), "--style", "llamacpp", "--save-logits", output })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        // Drained so that progress lines can never fill the pipe and block the run before it sees the signal.
        var stdout = p.StandardOutput.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Directory.GetFiles(_dir, "base.qslogits.tmp-*").Length == 0 && !p.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.False(p.HasExited, "the run ended before it could be interrupted");
        // A test run started in the background of a script inherits SIGINT as ignored (so would the CLI, and .NET then
        // leaves Ctrl-C alone, as a shell does): there SIGTERM, which the CLI treats the same way, stands in for it.
        string signal = SigIntIgnored() ? "-TERM" : "-INT";
        using (var kill = Process.Start("kill", [signal, p.Id.ToString()])) kill.WaitForExit();
        try { await p.WaitForExitAsync(new CancellationTokenSource(60_000).Token); }
        catch (TaskCanceledException)
        {
            // Say what the run was doing instead of leaving it running for the rest of the suite.
            p.Kill(entireProcessTree: true);
            Assert.Fail($"no exit within 60 s of SIGINT; stderr: {await stderr}; stdout: {await stdout}");
        }
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("cancelled", await stderr);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    // Bit 2 (SIGINT) of the SigIgn mask in /proc/self/status.
    private static bool SigIntIgnored()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line != null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 2) != 0;
    }

    [Theory]
    [InlineData("perplexity", "/nonexistent/model", "--text", "/etc/hostname")]
    [InlineData("run", "STORIES", "-p", "hi", "-n", "-3")]
    [InlineData("run", "STORIES", "-p", "hi", "--top-p", "1.5")]
    [InlineData("run", "STORIES", "-p", "hi", "--kv-cache", "q8_0")]
    [InlineData("perplexity", "STORIES", "--text", "/nonexistent.txt")]
    [InlineData("perplexity", "STORIES", "--text", "/etc/hostname", "--ctx", "1")]
    public void BadArgumentsGiveOneClearLineAndANonZeroExit(params string[] args)
    {
        args = Array.ConvertAll(args, a => a == "STORIES" ? Stories : a);
        var r = Run(args);
        Assert.NotEqual(0, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void QuantizeMakesANamedMixOrAPureFile()
    {
        string mix = Path.Combine(_dir, "stories-q4km.gguf"), pure = Path.Combine(_dir, "stories-q4k-pure.gguf");
        var m = Run("quantize", Stories, "-o", mix, "--type", "q4_k_m");
        Assert.True(m.Code == 0, m.Err);
        Assert.Contains("Q4_K_M", m.Out);
        var p = Run("quantize", Stories, "-o", pure, "--type", "Q4_K", "--pure");
        Assert.True(p.Code == 0, p.Err);
        Assert.Contains("pure Q4_K", p.Out);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
        var i = Run("inspect", mix);
        Assert.True(i.Code == 0, i.Err);
    }

    [Fact]
    public void QuantizeWithAnUnknownTypeListsTheValidOnes()
    {
        var r = Run("quantize", Stories, "-o", Path.Combine(_dir, "x.gguf"), "--type", "Q7_K");
        Assert.Equal(2, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("Q7_K", lines[0]);
        Assert.Contains("Q4_K_M", lines[0]);
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }
}
