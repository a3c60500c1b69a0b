// Folding + rotations leave the function unchanged (sotu-llama-30m and every fixture that supports them), refuse what they cannot do, are deterministic, and run in llama.cpp.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Transforms;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Transforms;

[Trait("Category", "RealModel")]
public sealed class RotationFunctionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-rot-").FullName;
    private static readonly Lazy<int[]> TokensLazy = new(() => ArchitectureReferenceTests.Tokens(96));
    private static int[] Tokens => TokensLazy.Value;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Rotatable() => new() { "llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "mixtral", "phi3" };

    private static ArchitectureSpec Spec(string name) => name switch
    {
        "llama" => ArchitectureSpec.Llama,
        "mistral" => ArchitectureSpec.Mistral,
        "qwen2" => ArchitectureSpec.Qwen2,
        "qwen3" => ArchitectureSpec.Qwen3,
        "qwen3_moe" => ArchitectureSpec.Qwen3Moe,
        "mixtral" => ArchitectureSpec.Mixtral,
        "phi3" => ArchitectureSpec.Phi3,
        "gemma3_text" => ArchitectureSpec.Gemma3,
        _ => throw new ArgumentException(name),
    };

    private static float[] Logits(LlamaModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Parameters.VocabSize];
        new InferenceSession(model, 256).Forward(tokens, logits, allLogits: true);
        return logits;
    }

    // max |Δ| / range of the reference logits.
    private float RelativeDifference(string what, float[] reference, float[] other)
    {
        float range = reference.Max() - reference.Min(), worst = 0;
        for (int i = 0; i < reference.Length; i++) worst = Math.Max(worst, Math.Abs(reference[i] - other[i]));
        output.WriteLine($"{what}: max |Δ| {worst:E3} of logit range {range:F3} ({worst / range:E2})");
        return worst / range;
    }

    private string Rotate(string folder, string name, RotationOptions options)
    {
        using var model = LlamaModel.Load(folder);
        using var rotated = ModelRotation.Rotate(model, options, output.WriteLine);
        string outDir = Path.Combine(_dir, name);
        HfFloatCheckpointWriter.Write(folder, rotated.Weights, DType.F32, rotated.Parameters.TiedEmbeddings, outDir, rotation: rotated.Record);
        return outDir;
    }

    [Fact]
    public void RotatedSotuLlama30MComputesTheSameLogitsWithEveryNormAllOnes()
    {
        string source = SharedData.Model("sotu-llama-30m");
        string rotatedDir = Rotate(source, "sotu-rot", new RotationOptions { Seed = 1 });
        using var original = LlamaModel.Load(source);
        using var rotated = LlamaModel.Load(rotatedDir);
        Assert.True(RelativeDifference("sotu-llama-30m", Logits(original, Tokens), Logits(rotated, Tokens)) <= 1e-4);
        // The weights did change, the norms are folded, and the tied head became lm_head (its γ is not ones).
        Assert.NotEqual(original.Layers[0].Wq.ToFloat32(), rotated.Layers[0].Wq.ToFloat32());
        Assert.All(rotated.Layers.SelectMany(l => l.AttentionNorm.Concat(l.FfnNorm)).Concat(rotated.OutputNorm), g => Assert.Equal(1f, g));
        Assert.True(original.Parameters.TiedEmbeddings);
        Assert.False(rotated.Parameters.TiedEmbeddings);
    }

    [Theory]
    [MemberData(nameof(Rotatable))]
    public void EveryArchitectureFixtureKeepsItsFunctionWithAndWithoutR2(string name)
    {
        string folder = ArchitectureFixture.Write(Spec(name), Path.Combine(_dir, name));
        using var original = LlamaModel.Load(folder);
        var reference = Logits(original, Tokens);
        foreach (bool r2 in new[] { true, false })
        {
            string rotatedDir = Rotate(folder, $"{name}-rot-{r2}", new RotationOptions { Seed = 5, HeadRotation = r2 });
            using var rotated = LlamaModel.Load(rotatedDir);
            Assert.Equal(original.Parameters.Architecture, rotated.Parameters.Architecture);
            Assert.True(RelativeDifference($"{name} R2={r2}", reference, Logits(rotated, Tokens)) <= 1e-4);
            Assert.NotEqual(original.Layers[0].Wv.ToFloat32(), rotated.Layers[0].Wv.ToFloat32());
            // Written as the source stores it: the same tensor names (fused ones once, e.g. Phi-3's qkv_proj and
            // gate_up_proj) with the same shapes, plus lm_head when the head had to be untied.
            var names = original.Parameters.Architecture.HfNaming;
            var expected = original.Source.TensorNames.Append(original.Parameters.TiedEmbeddings && !rotated.Parameters.TiedEmbeddings ? names.Output : null)
                .OfType<string>().Order(StringComparer.Ordinal);
            Assert.Equal(expected, rotated.Source.TensorNames.Order(StringComparer.Ordinal));
            foreach (var n in original.Source.TensorNames) Assert.Equal(original.Source.Get(n).Shape, rotated.Source.Get(n).Shape);
        }
    }

    [Fact]
    public void TiedEmbeddingsStayTiedWhenTheFinalNormIsAllOnes()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Llama, Path.Combine(_dir, "llama"));
        using var file = LlamaModel.Load(folder);
        var hp = file.Parameters;
        var names = hp.Architecture.HfNaming;
        var weights = new InMemoryWeights("llama fixture, final norm ones");
        foreach (var n in file.Source.TensorNames)
        {
            var values = file.Source.Get(n).ToFloat32();
            if (n == names.OutputNorm) Array.Fill(values, 1f);
            weights.Add(n, values, file.Source.Get(n).Shape);
        }
        using var original = new LlamaModel(weights, hp, names, file.Tokenizer, "hf-safetensors");
        using var rotated = ModelRotation.Rotate(original, new RotationOptions { Seed = 2 });
        Assert.True(rotated.Parameters.TiedEmbeddings);
        Assert.False(rotated.Weights.Contains(names.Output));
        Assert.Contains(rotated.Notes, n => n.Contains("stay tied"));
        using var model = rotated.Open(file.Tokenizer);
        Assert.True(RelativeDifference("llama tied", Logits(original, Tokens), Logits(model, Tokens)) <= 1e-4);
    }

    [Fact]
    public void GemmaIsRefusedByNameAndNothingIsWritten()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Gemma3, Path.Combine(_dir, "gemma"));
        using var model = LlamaModel.Load(folder);
        var e = Assert.Throws<NotSupportedException>(() => ModelRotation.Rotate(model, new RotationOptions()));
        Assert.Contains("gemma3_text", e.Message);
        Assert.Contains("not rotation-invariant", e.Message);
    }

    [Fact]
    public void QuantizedAndGgufInputsAreRefusedByNameAndTheInputFolderIsNeverTheOutput()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Llama, Path.Combine(_dir, "llama"));
        string q8 = Path.Combine(_dir, "llama-q8.gguf"), f32 = Path.Combine(_dir, "llama-f32.gguf");
        using (var m = LlamaModel.Load(folder))
        {
            PureGgufRecipe.Quantize(m, q8, DType.Q8_0);
            GgufLlamaExporter.Export(m, f32, GgmlType.F32);
            using var rotated = ModelRotation.Rotate(m, new RotationOptions());
            var io = Assert.Throws<IOException>(() => HfFloatCheckpointWriter.Write(folder, rotated.Weights, DType.F32, false, folder));
            Assert.Contains("input model folder", io.Message);
            string busy = Directory.CreateDirectory(Path.Combine(_dir, "busy")).FullName;
            File.WriteAllText(Path.Combine(busy, "keep.txt"), "x");
            Assert.Throws<IOException>(() => HfFloatCheckpointWriter.Write(folder, rotated.Weights, DType.F32, false, busy));
            Assert.Equal("x", File.ReadAllText(Path.Combine(busy, "keep.txt")));
        }
        using (var m = LlamaModel.Load(q8))
        {
            var e = Assert.Throws<NotSupportedException>(() => ModelRotation.Rotate(m, new RotationOptions()));
            Assert.Contains("Q8_0", e.Message);
            Assert.Contains("a quantized type", e.Message);
        }
        using (var m = LlamaModel.Load(f32))
            Assert.Contains("GGUF is not implemented", Assert.Throws<NotSupportedException>(() => ModelRotation.Rotate(m, new RotationOptions())).Message);
    }

    [Fact]
    public void SameSeedGivesByteIdenticalFilesAtOneAndTwoThreads()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Qwen2, Path.Combine(_dir, "qwen2"));
        string a = Rotate(folder, "a", new RotationOptions { Seed = 9, Threads = 1 });
        string b = Rotate(folder, "b", new RotationOptions { Seed = 9, Threads = 2 });
        string c = Rotate(folder, "c", new RotationOptions { Seed = 10, Threads = 2 });
        foreach (var f in new[] { "model.safetensors", "config.json", "tokenizer.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, f)), File.ReadAllBytes(Path.Combine(b, f)));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(c, "model.safetensors")));
    }

    [OracleFact]
    [Trait("Category", "Oracle")]
    public void LlamaCppRunsOurF32GgufOfTheRotatedSotuModelWithTheOriginalLogits()
    {
        string source = SharedData.Model("sotu-llama-30m");
        string rotatedDir = Rotate(source, "sotu-rot", new RotationOptions { Seed = 1 });
        string original = Path.Combine(_dir, "sotu-f32.gguf"), rotated = Path.Combine(_dir, "sotu-rot-f32.gguf");
        using (var m = LlamaModel.Load(source)) GgufLlamaExporter.Export(m, original, GgmlType.F32);
        using (var m = LlamaModel.Load(rotatedDir)) GgufLlamaExporter.Export(m, rotated, GgmlType.F32);
        float[] Cpp(string file)
        {
            using var cpp = LlamaCppModel.Load(file);
            using var ctx = cpp.CreateContext(256, 256, threads: 2, f32Cache: true);
            return ctx.Evaluate(Tokens);
        }
        var reference = Cpp(original);
        Assert.True(RelativeDifference("llama.cpp rotated vs original", reference, Cpp(rotated)) <= 1e-3);
        using var ours = LlamaModel.Load(source);
        Assert.True(RelativeDifference("llama.cpp rotated vs our engine on the original", Logits(ours, Tokens), Cpp(rotated)) <= 1e-3);
    }
}
