// The library's QuantizeRequest and the CLI reject the same contradictory requests with the same words, before any work.
using QuantSharp.Tests.Cli;

namespace QuantSharp.Tests.Library;

[Trait("Category", "RealModel")]
public sealed class QuantizeRequestRuleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-rules-").FullName;
    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");
    private static string Text => SharedData.DataFile("tinystories", "valid-sample.txt");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Bad requests as CLI arguments (after the model) and as the library request, with the option named.</summary>
    public static TheoryData<string, string[]> BadRequests => new()
    {
        { "--act-order", ["--method", "gptq", "--format", "gguf:Q4_K", "--act-order", "--calib", "TEXT"] },
        { "--static-groups", ["--method", "gptq", "--format", "gguf:Q4_0", "--static-groups", "--calib", "TEXT"] },
        { "--mse", ["--method", "rtn", "--format", "hf-gptq", "--mse"] },
        { "--bits", ["--type", "Q4_0", "--bits", "3"] },
        { "--format", ["--method", "rtn"] },
        { "--type", ["--type", "Q4_0", "--method", "rtn", "--format", "gguf:Q4_0"] },
        { "--bits", ["--method", "rtn", "--format", "hf-gptq", "--bits", "5"] },
        { "--nsamples", ["--method", "rtn", "--format", "gguf:Q8_0", "--nsamples", "4"] },
        { "--damp", ["--method", "rtn", "--format", "hf-gptq", "--damp", "0.1"] },
        { "--calib", ["--method", "gptq", "--format", "hf-gptq"] },
        { "--static-groups", ["--method", "rtn", "--format", "hf-gptq", "--static-groups"] },
        { "--measure-memory", ["--type", "Q4_K_M", "--measure-memory"] },
        { "--bits", ["--method", "rtn", "--format", "hf-awq", "--bits", "8"] },
        { "--act-order", ["--method", "gptq", "--format", "hf-awq", "--act-order", "--calib", "TEXT"] },
        { "--format", ["--method", "rtn", "--format", "hf-awk"] },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void CliAndLibraryRejectTheSameRequestWithTheSameError(string option, string[] args)
    {
        string output = Path.Combine(_dir, "out.gguf");
        args = [.. args.Select(a => a == "TEXT" ? Text : a)];
        var request = ToRequest(args, output);
        var ex = Assert.Throws<QuantizeRequestException>(request.Validate);
        Assert.Equal(option, ex.Option);
        Assert.StartsWith(option, ex.Message);
        var cli = QuantSharpProcess.Run(["quantize", Stories, "-o", output, .. args]);
        Assert.Equal(2, cli.Code);
        Assert.Equal($"error: {ex.Message}", cli.Err.Trim());
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    /// <summary>The same arguments as a request object (what a library user would write).</summary>
    private static QuantizeRequest ToRequest(string[] args, string output)
    {
        var r = new QuantizeRequest { Model = Stories, Output = output };
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => args[++i];
            r = a switch
            {
                "--method" => r with { Method = Next() == "rtn" ? QuantizeMethod.Rtn : QuantizeMethod.Gptq },
                "--format" => r with { Format = Next() },
                "--type" => r with { Type = Next() },
                "--bits" => r with { Bits = int.Parse(Next()) },
                "--act-order" => r with { ActOrder = true },
                "--static-groups" => r with { StaticGroups = true },
                "--mse" => r with { Mse = true },
                "--damp" => r with { Damping = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture) },
                "--calib" => r with { Calibration = [Next()] },
                "--nsamples" => r with { Samples = int.Parse(Next()) },
                "--measure-memory" => r with { MeasurePeakMemory = true },
                _ => throw new ArgumentException(a),
            };
        }
        return r;
    }

    [Fact]
    public void LibraryQuantizesStories260KAndGeneratesFromTheFile()
    {
        string output = Path.Combine(_dir, "stories-q4_0.gguf");
        // Q4_0 itself is refused for stories260K (172-wide ffn_down rows fit no 32-value block; llama-quantize refuses
        // it too), before anything is written; the Q4_K_M mix has llama.cpp's fallbacks for those rows.
        var refused = Assert.Throws<NotSupportedException>(() => QuantSharpModel.Quantize(new QuantizeRequest { Model = Stories, Output = output, Type = "Q4_0" }));
        Assert.Contains("ffn_down", refused.Message);
        Assert.False(File.Exists(output));
        var progress = new List<QuantizeProgress>();
        var result = QuantSharpModel.Quantize(new QuantizeRequest { Model = Stories, Output = output, Type = "Q4_K_M" }, new SyncProgress(progress.Add));
        Assert.Equal(output, result.OutputPath);
        Assert.True(File.Exists(output));
        Assert.NotEmpty(progress);
        using var model = QuantSharpModel.Load(output);
        var text = model.Generate("Once upon a time", new GenerationOptions { MaxTokens = 16 });
        Assert.Equal(16, text.Tokens.Count);
        Assert.False(string.IsNullOrWhiteSpace(text.Text));
    }

    private sealed class SyncProgress(Action<QuantizeProgress> report) : IProgress<QuantizeProgress>
    {
        public void Report(QuantizeProgress value) => report(value);
    }
}
