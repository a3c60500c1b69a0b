// `quantsharp serve` as a user runs it: starts, answers, stops cleanly on SIGTERM; bad options fail before loading.
using System.Diagnostics;
using System.Text.Json;
using QuantSharp.Tests.Cli;

namespace QuantSharp.Tests.Serve;

[Trait("Category", "RealModel")]
public sealed class ServeCliTests
{
    [Fact]
    public async Task ServeAnswersAndStopsOnSigterm()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SharedData.RepoRoot };
        foreach (var a in new[] { QuantSharpProcess.DllPath, "serve", ServerFixture.StoriesPath, "--port", "0", "--max-concurrent", "1", "--queue", "0" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            string line = (await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)))!;
            Assert.StartsWith("quantsharp serve: stories260K.bin on http://127.0.0.1:", line);
            var address = new Uri(line.Split(' ')[4]);
            using var http = new HttpClient();
            using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(address, "v1/models")));
            Assert.Equal("stories260K.bin", doc.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
            using var r = await http.PostAsync(new Uri(address, "v1/completions"), new StringContent("""{"prompt":"Once upon a time","max_tokens":5}"""));
            Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode);
        }
        finally
        {
            if (!p.HasExited) Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        }
        Assert.True(p.WaitForExit(15_000), "serve did not stop on SIGTERM");
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("stopped (completed 1, rejected 0, invalid 0, cancelled 0, failed 0)", await stderr);
    }

    [Theory]
    [InlineData("--max-concurrent", "0", "--max-concurrent must be ≥ 1, got 0")]
    [InlineData("--queue", "-1", "--queue must be ≥ 0, got -1")]
    [InlineData("--port", "70000", "--port must be in 0…65535, got 70000")]
    [InlineData("--host", "example.org", "--host: 'example.org' is not an IP address or 'localhost'")]
    [InlineData("--max-tokens", "0", "--max-tokens must be ≥ 1, got 0")]
    public void BadOptionsFailWithOneErrorLine(string option, string value, string message)
    {
        var run = QuantSharpProcess.Run("serve", ServerFixture.StoriesPath, option, value);
        Assert.Equal(2, run.Code);
        Assert.Equal($"error: {message}", run.Err.Trim());
    }
}
