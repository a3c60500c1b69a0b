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
        { "--format", ["--type", "Q4_0", "--method", "rtn", "--format", "gguf:Q4_0", "--calib", "TEXT"] },
        // A method inside a named mix: the mix fixes the types, the calibration gives the importance matrix.
        { "--imatrix", ["--type", "Q4_K_M", "--method", "gptq", "--imatrix", "x.imatrix", "--calib", "TEXT"] },
        { "--calib", ["--type", "Q4_K_M", "--method", "rtn"] },
        { "--type", ["--type", "IQ4_XS", "--method", "gptq", "--calib", "TEXT"] },
        { "--type", ["--type", "Q5_0", "--method", "awq+gptq", "--calib", "TEXT"] },
        { "--type", ["--type", "Q9_K", "--method", "gptq", "--calib", "TEXT"] },
        { "--bits", ["--type", "Q4_K_M", "--method", "gptq", "--bits", "4", "--calib", "TEXT"] },
        { "--act-order", ["--type", "Q4_K_M", "--method", "gptq", "--act-order", "--calib", "TEXT"] },
        { "--damp", ["--type", "Q4_K_M", "--method", "awq", "--damp", "0.1", "--calib", "TEXT"] },
        { "--nsamples", ["--type", "Q4_K_M", "--method", "gptq", "--calib", "TEXT", "--nsamples", "0"] },
        { "--bits", ["--method", "rtn", "--format", "hf-gptq", "--bits", "5"] },
        { "--nsamples", ["--method", "rtn", "--format", "gguf:Q8_0", "--nsamples", "4"] },
        { "--damp", ["--method", "rtn", "--format", "hf-gptq", "--damp", "0.1"] },
        { "--calib", ["--method", "gptq", "--format", "hf-gptq"] },
        { "--static-groups", ["--method", "rtn", "--format", "hf-gptq", "--static-groups"] },
        { "--measure-memory", ["--type", "Q4_K_M", "--measure-memory"] },
        { "--bits", ["--method", "rtn", "--format", "hf-awq", "--bits", "8"] },
        { "--act-order", ["--method", "gptq", "--format", "hf-awq", "--act-order", "--calib", "TEXT"] },
        { "--format", ["--method", "rtn", "--format", "hf-awk"] },
        // llama-quantize's per-tensor overrides go with a named mix, and are parsed before any work.
        { "--tensor-type", ["--tensor-type", "attn_v=q8_0"] },
        { "--tensor-type", ["--type", "Q4_K_M", "--pure", "--tensor-type", "attn_v=q8_0"] },
        { "--tensor-type", ["--method", "rtn", "--format", "gguf:Q4_0", "--tensor-type", "attn_v=q8_0"] },
        { "--tensor-type", ["--type", "Q4_K_M", "--tensor-type", "attn_v"] },
        { "--tensor-type", ["--type", "Q4_K_M", "--tensor-type", "attn_v=q9_k"] },
        { "--tensor-type", ["--type", "Q4_K_M", "--tensor-type", "attn_(v=q8_0"] },
        { "--token-embedding-type", ["--type", "Q4_K_M", "--token-embedding-type", "q7_k"] },
        { "--output-tensor-type", ["--method", "rtn", "--format", "hf-gptq", "--output-tensor-type", "q8_0"] },
        { "--rtn-output", ["--type", "Q4_K_M", "--rtn-output"] },
        { "--rtn-output", ["--method", "rtn", "--format", "gguf:Q4_0", "--rtn-output"] },
        // A GPTQ method into gguf:T calibrates its classifier (--rtn-output accepted there); awq into gguf:T does not.
        { "--rtn-output", ["--method", "awq", "--format", "gguf:Q4_K", "--rtn-output", "--calib", "TEXT"] },
        { "--rtn-output", ["--method", "gptq", "--format", "hf-gptq", "--rtn-output", "--calib", "TEXT"] },
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
                "--method" => r with
                {
                    Method = Next() switch { "rtn" => QuantizeMethod.Rtn, "gptq" => QuantizeMethod.Gptq, "awq" => QuantizeMethod.Awq, "awq+gptq" => QuantizeMethod.AwqGptq, var m => throw new ArgumentException(m) },
                },
                "--imatrix" => r with { Imatrix = Next() },
                "--pure" => r with { Pure = true },
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
                "--tensor-type" => r with { TensorTypes = [.. r.TensorTypes, Next()] },
                "--token-embedding-type" => r with { TokenEmbeddingType = Next() },
                "--output-tensor-type" => r with { OutputTensorType = Next() },
                "--rtn-output" => r with { RoundOutputToNearest = true },
                _ => throw new ArgumentException(a),
            };
        }
        return r;
    }

    /// <summary>The named mixes GPTQ rounds into (their main block type has a GPTQ grid), with and without --pure; any mix with RTN/AWQ.</summary>
    [Theory]
    [InlineData("Q4_K_M", "gptq")]
    [InlineData("Q4_K_S", "gptq")]
    [InlineData("Q3_K_M", "gptq")]
    [InlineData("Q2_K", "gptq")]
    [InlineData("Q2_K_S", "awq+gptq")]
    [InlineData("Q4_0", "gptq")]
    [InlineData("Q5_K_M", "gptq")]
    [InlineData("Q6_K", "gptq")]
    [InlineData("Q8_0", "gptq")]
    [InlineData("IQ4_NL", "gptq")]
    [InlineData("IQ4_XS", "rtn")]
    [InlineData("Q5_1", "awq")]
    public void MethodInsideANamedMixIsAccepted(string mix, string method)
    {
        string output = Path.Combine(_dir, "out.gguf");
        ToRequest(["--type", mix, "--method", method, "--calib", Text], output).Validate();
        ToRequest(["--type", mix, "--method", method, "--calib", Text, "--pure"], output).Validate();
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("gptq")]
    [InlineData("awq+gptq")]
    public void AGptqMethodIntoAPureGgufTypeTakesRtnOutput(string method)
    {
        // Its classifier is calibrated by GPTQ (docs/gptq.md), so --rtn-output has something to turn off.
        string output = Path.Combine(_dir, "out.gguf");
        var request = ToRequest(["--format", "gguf:Q4_K", "--method", method, "--calib", Text, "--rtn-output"], output);
        request.Validate();
        (request with { Rotate = true }).Validate();
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void AChartRendererWithoutAReportFolderIsRefused()
    {
        // A library-only field (the CLI passes a renderer only with --report): without a folder it would draw nothing.
        string output = Path.Combine(_dir, "charts.gguf");
        var request = new QuantizeRequest { Model = Stories, Output = output, Type = "Q4_K_M", ReportCharts = new QuantSharp.Reporting.Charts.ScottPlotReportChartRenderer() };
        var error = Assert.Throws<QuantizeRequestException>(request.Validate);
        Assert.Contains("--report", error.Message);
        Assert.Contains(nameof(QuantizeRequest.ReportCharts), error.Message);
        Assert.False(File.Exists(output));
        (request with { ReportDirectory = Path.Combine(_dir, "report") }).Validate();
    }

    /// <summary>Overrides that parse but cannot apply to this model are refused when the plan is made, before anything is written.</summary>
    [Theory]
    [InlineData("--tensor-type", "attn_vv=q8_0", "matches no tensor")]
    [InlineData("--output-tensor-type", "q8_0", "tied token embedding")]
    [InlineData("--token-embedding-type", "q4_k", "rows of 64 values")]
    [InlineData("--tensor-type", "ffn_down=q8_0", "172")]
    public void AnOverrideThatCannotApplyToTheModelIsAnError(string option, string value, string expected)
    {
        string output = Path.Combine(_dir, "out.gguf");
        var cli = QuantSharpProcess.Run(["quantize", Stories, "-o", output, "--type", "Q4_K_M", option, value]);
        Assert.Equal(2, cli.Code);
        Assert.StartsWith("error: ", cli.Err.Trim());
        Assert.Contains(expected, cli.Err);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void CliWritesAGptqMixWithOverrides()
    {
        // The calibrated path plans with the same overrides: the layer quantizer rounds into them and the table agrees.
        string output = Path.Combine(_dir, "stories-overrides-gptq.gguf");
        var cli = QuantSharpProcess.Run(["quantize", Stories, "-o", output, "--type", "Q4_K_M", "--method", "gptq", "--calib", Text, "--nsamples", "4", "--seqlen", "64",
            "--tensor-type", "attn_[qk]=q8_0", "--tensor-type", "blk\\.[0-2]\\.ffn_up=iq4_nl", "--token-embedding-type", "q8_0"]);
        Assert.True(cli.Code == 0, cli.Err);
        Assert.Contains("--tensor-type attn_[qk]=Q8_0", cli.Out);
        using var f = new QuantSharp.Formats.Gguf.GgufFile(output);
        Assert.Equal(QuantSharp.Formats.Gguf.GgmlType.Q8_0, f.GetInfo("blk.4.attn_k.weight").Type);
        Assert.Equal(QuantSharp.Formats.Gguf.GgmlType.IQ4_NL, f.GetInfo("blk.2.ffn_up.weight").Type);
        Assert.Equal(QuantSharp.Formats.Gguf.GgmlType.Q5_0, f.GetInfo("blk.3.ffn_up.weight").Type); // the mix's Q4_K, fallen back
        Assert.Equal(QuantSharp.Formats.Gguf.GgmlType.Q8_0, f.GetInfo("token_embd.weight").Type);
    }

    [Fact]
    public void CliWritesAPureMixWithAMethod()
    {
        // stories260K's rows fit no 256-block: pure Q4_K falls back to Q5_0 (64-wide rows) and F16 (172-wide), as llama.cpp does.
        string output = Path.Combine(_dir, "stories-q4k-pure-gptq.gguf");
        var cli = QuantSharpProcess.Run(["quantize", Stories, "-o", output, "--type", "Q4_K", "--pure", "--method", "gptq", "--calib", Text, "--nsamples", "4", "--seqlen", "64"]);
        Assert.True(cli.Code == 0, cli.Err);
        Assert.Contains("Q4_K_M, pure Q4_K, method gptq", cli.Out);
        using var f = new QuantSharp.Formats.Gguf.GgufFile(output);
        Assert.Equal(15u, f.Metadata.GetUInt32(QuantSharp.Formats.Gguf.LlamaGgufNames.FileType));
        var types = f.Tensors.Where(t => t.Dimensions.Length == 2).Select(t => t.Type).Distinct().Order().ToArray();
        Assert.Equal([QuantSharp.Formats.Gguf.GgmlType.F16, QuantSharp.Formats.Gguf.GgmlType.Q5_0], types);
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
