// quantsharp rotate end to end: a fixture rotated into a new folder, and the refusals as one clear line with a non-zero exit.
using QuantSharp.Tests.Architectures;

namespace QuantSharp.Tests.Cli;

[Trait("Category", "RealModel")]
public sealed class RotateCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-rotcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RotateWritesAPlainFolderAndRefusesItsInputAndGemma()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Qwen2, Path.Combine(_dir, "qwen2"));
        string output = Path.Combine(_dir, "qwen2-rot");
        var r = QuantSharpProcess.Run("rotate", folder, "--out", output, "--seed", "3", "--threads", "1");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("R1 (residual, order 256): randomized Hadamard 2^8, seed 3", r.Out);
        Assert.Contains("embeddings untied", r.Out);
        Assert.Contains("\"tie_word_embeddings\": false", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Contains("\"seed\": 3", File.ReadAllText(Path.Combine(output, "rotation.json")));
        Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));
        Assert.Empty(Directory.GetDirectories(_dir, "*.tmp-*"));

        byte[] before = File.ReadAllBytes(Path.Combine(folder, "model.safetensors"));
        var self = QuantSharpProcess.Run("rotate", folder, "--out", folder);
        Assert.NotEqual(0, self.Code);
        Assert.Contains("input model folder", self.Err);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));

        string gemma = ArchitectureFixture.Write(ArchitectureSpec.Gemma3, Path.Combine(_dir, "gemma"));
        var g = QuantSharpProcess.Run("rotate", gemma, "--out", Path.Combine(_dir, "gemma-rot"));
        Assert.NotEqual(0, g.Code);
        Assert.Contains("gemma3_text", g.Err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "gemma-rot")));
    }
}
