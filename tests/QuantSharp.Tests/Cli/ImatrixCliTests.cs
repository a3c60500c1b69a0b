// quantsharp imatrix end to end: both output formats from a real model, and bad input giving one error line.
using QuantSharp.Formats.Imatrix;

namespace QuantSharp.Tests.Cli;

[Trait("Category", "RealModel")]
public sealed class ImatrixCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-imatrix-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);


    private static (int Code, string Out, string Err) Run(params string[] args) => QuantSharpProcess.Run(args);

    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");
    private static string StoriesText => SharedData.DataFile("tinystories", "valid-sample.txt");

    [Fact]
    public void ImatrixWritesGgufAndLegacyFilesWithTheSameImportance()
    {
        string gguf = Path.Combine(_dir, "stories.imatrix.gguf"), dat = Path.Combine(_dir, "stories.dat");
        var a = Run("imatrix", Stories, "-f", StoriesText, "--ctx", "128", "--chunks", "3", "-o", gguf);
        Assert.True(a.Code == 0, a.Err);
        Assert.Contains("computing over 3 chunks of 128", a.Out);
        var b = Run("imatrix", Stories, "--text", StoriesText, "--ctx", "128", "--chunks", "3", "-o", dat, "--output-format", "dat", "--threads", "1");
        Assert.True(b.Code == 0, b.Err);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));

        var m = ImatrixFile.Read(gguf);
        Assert.Equal((3, 128, 35), (m.ChunkCount, m.ChunkSize, m.Entries.Count));
        Assert.Equal([StoriesText], m.Datasets);
        var legacy = ImatrixFile.Read(dat, legacyChunkSize: 128);
        Assert.Equal(m.Entries.Select(e => e.Name), legacy.Entries.Select(e => e.Name));
        var x = m.ToQuantizerImportance();
        var y = legacy.ToQuantizerImportance();
        foreach (var (name, v) in x)
            for (int j = 0; j < v.Length; j++) Assert.Equal(v[j], y[name][j], v[j] * 1e-6f);
    }

    [Fact]
    public void QuantizeWithImatrixEqualsTheRecipeGivenTheSameImportance()
    {
        string imx = Path.Combine(_dir, "stories.imatrix.gguf"), weighted = Path.Combine(_dir, "q4km-imx.gguf");
        string plain = Path.Combine(_dir, "q4km.gguf"), library = Path.Combine(_dir, "q4km-lib.gguf");
        var a = Run("imatrix", Stories, "-f", StoriesText, "--ctx", "128", "--chunks", "3", "-o", imx);
        Assert.True(a.Code == 0, a.Err);
        var q = Run("quantize", Stories, "-o", weighted, "--type", "Q4_K_M", "--imatrix", imx);
        Assert.True(q.Code == 0, q.Err);
        Assert.Contains("imatrix 35 tensors", q.Out);
        var p = Run("quantize", Stories, "-o", plain, "--type", "Q4_K_M");
        Assert.True(p.Code == 0, p.Err);

        using (var model = QuantSharp.Models.Llama.LlamaModel.Load(Stories))
            QuantSharp.Quantization.Recipes.LlamaCppMixRecipe.Quantize(model, library, QuantSharp.Quantization.Recipes.LlamaCppFileType.Q4_K_M,
                ImatrixFile.Read(imx).ToQuantizerImportance());
        Assert.Equal(File.ReadAllBytes(library), File.ReadAllBytes(weighted));
        Assert.NotEqual(File.ReadAllBytes(plain), File.ReadAllBytes(weighted));
    }

    [Fact]
    public void QuantizeWithAMissingImatrixFileIsOneErrorLine()
    {
        var r = Run("quantize", Stories, "-o", Path.Combine(_dir, "x.gguf"), "--type", "Q4_K_M", "--imatrix", Path.Combine(_dir, "nope.gguf"));
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("nope.gguf", r.Err);
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }

    [Fact]
    public void ImatrixRefusesToOverwriteTheCalibrationText()
    {
        string text = Path.Combine(_dir, "calib.txt");
        File.Copy(StoriesText, text);
        byte[] before = File.ReadAllBytes(text);
        var r = Run("imatrix", Stories, "-f", text, "--ctx", "128", "--chunks", "2", "-o", text);
        Assert.Equal(2, r.Code);
        Assert.Equal(before, File.ReadAllBytes(text));
    }

    [Theory]
    [InlineData("STORIES", "-f", "/etc/hostname", "-o", "OUT")]
    [InlineData("STORIES", "-f", "TEXT", "--ctx", "8", "-o", "OUT")]
    [InlineData("STORIES", "-f", "TEXT", "--chunks", "0", "-o", "OUT")]
    [InlineData("STORIES", "-f", "/nonexistent.txt", "-o", "OUT")]
    [InlineData("/nonexistent/model", "-f", "TEXT", "-o", "OUT")]
    public void BadArgumentsGiveOneClearLineAndExitCode2(params string[] args)
    {
        string output = Path.Combine(_dir, "out.gguf");
        args = ["imatrix", .. Array.ConvertAll(args, a => a switch { "STORIES" => Stories, "TEXT" => StoriesText, "OUT" => output, _ => a })];
        var r = Run(args);
        Assert.Equal(2, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.False(File.Exists(output));
    }
}
