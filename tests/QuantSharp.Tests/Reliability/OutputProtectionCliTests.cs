// Regression tests (issue 12): no command may overwrite one of its inputs, however the output path is spelled.
namespace QuantSharp.Tests.Reliability;

[Trait("Category", "RealModel")]
public sealed class OutputProtectionCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-protect-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");
    private static string Tok => SharedData.Model("stories260K", "tok512.bin");

    private string CopyText()
    {
        string text = Path.Combine(_dir, "calib.txt");
        File.Copy(SharedData.DataFile("tinystories", "valid-sample.txt"), text);
        return text;
    }

    [Fact]
    public void QuantizeRtnRefusesToOverwriteTheCalibrationText()
    {
        string text = CopyText();
        byte[] before = File.ReadAllBytes(text);
        var r = Cli.QuantSharpProcess.Run("quantize", Stories, "--tokenizer", Tok, "--method", "rtn", "--format", "gguf:Q8_0",
            "--calib", text, "--nsamples", "1", "--seqlen", "32", "-o", text);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("input", r.Err + r.Out);
        Assert.Equal(before, File.ReadAllBytes(text));
    }

    [Fact]
    public void QuantizeRefusesAnOutputThatIsASymlinkToTheTokenizer()
    {
        string tok = Path.Combine(_dir, "tok512.bin");
        File.Copy(Tok, tok);
        string link = Path.Combine(_dir, "out.gguf");
        File.CreateSymbolicLink(link, tok);
        byte[] before = File.ReadAllBytes(tok);
        var r = Cli.QuantSharpProcess.Run("quantize", Stories, "--tokenizer", tok, "--type", "Q8_0", "-o", link);
        Assert.NotEqual(0, r.Code);
        Assert.Equal(before, File.ReadAllBytes(tok));
    }

    [Fact]
    public void PerplexitySaveLogitsRefusesTheTextAndTheModel()
    {
        string text = CopyText();
        string model = Path.Combine(_dir, "stories.bin");
        File.Copy(Stories, model);
        File.Copy(Tok, Path.Combine(_dir, "tok512.bin"));
        byte[] textBefore = File.ReadAllBytes(text), modelBefore = File.ReadAllBytes(model);
        foreach (var target in new[] { text, model, Path.Combine(_dir, "sub", "..", "calib.txt") })
        {
            if (target.Contains("sub")) Directory.CreateDirectory(Path.Combine(_dir, "sub"));
            var r = Cli.QuantSharpProcess.Run("perplexity", model, "--text", text, "--style", "llamacpp", "--ctx", "32", "--chunks", "1", "--save-logits", target);
            Assert.NotEqual(0, r.Code);
            Assert.Contains("refusing", r.Err + r.Out);
        }
        Assert.Equal(textBefore, File.ReadAllBytes(text));
        Assert.Equal(modelBefore, File.ReadAllBytes(model));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
    }
}
