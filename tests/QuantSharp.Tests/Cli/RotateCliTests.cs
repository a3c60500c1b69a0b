// quantsharp rotate end to end: a fixture rotated into a new folder (Phi-3's fused tensors too), and the refusals as one clear line with a non-zero exit.
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
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

    /// <summary>
    /// Phi-3 stores q/k/v and gate/up fused (qkv_proj, gate_up_proj): the command writes each fused tensor once, fused as
    /// the source has it, and the folder computes the original's logits (before: "tensor '…qkv_proj.weight' added twice").
    /// </summary>
    [Fact]
    public void RotateWritesPhi3sFusedTensorsOnceAndKeepsItsLogits()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Phi3, Path.Combine(_dir, "phi3"));
        string output = Path.Combine(_dir, "phi3-rot");
        var r = QuantSharpProcess.Run("rotate", folder, "--out", output, "--seed", "1");
        Assert.True(r.Code == 0, r.Err);
        using (var source = SafetensorsModel.Open(folder))
        using (var rotated = SafetensorsModel.Open(output))
        {
            Assert.Equal(source.TensorNames.Append("lm_head.weight").Distinct().Order(StringComparer.Ordinal), rotated.TensorNames.Order(StringComparer.Ordinal));
            Assert.Contains("model.layers.0.self_attn.qkv_proj.weight", rotated.TensorNames);
            Assert.DoesNotContain("model.layers.0.self_attn.q_proj.weight", rotated.TensorNames);
            foreach (var n in source.TensorNames) Assert.Equal(source.Get(n).Shape, rotated.Get(n).Shape);
        }
        int[] tokens = [1, 50, 300, 700, 20, 1000, 5, 77, 900, 31, 4000, 12];
        float[] Logits(string path)
        {
            using var m = LlamaModel.Load(path);
            var logits = new float[tokens.Length * m.Parameters.VocabSize];
            new InferenceSession(m, 64).Forward(tokens, logits, allLogits: true);
            return logits;
        }
        float[] a = Logits(folder), b = Logits(output);
        float range = a.Max() - a.Min(), worst = a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= 1e-4 * range, $"max |Δlogit| {worst} of the range {range}");
    }
}
