// quantize --method rotate+METHOD through the library: the same bytes as rotate-then-quantize, untied heads written, deterministic, refusals by name.
using System.Text.Json.Nodes;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Transforms;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Transforms;

/// <summary>
/// <see cref="QuantizeRequest.Rotate"/> (<c>--method rotate+rtn|rotate+gptq|rotate+awq|rotate+awq+gptq</c>): the rotation in
/// memory followed by the method gives exactly what <c>quantsharp rotate</c> then <c>quantize --method</c> gives; Hugging
/// Face outputs carry the untied head (lm_head, tie_word_embeddings false) and load back; the output does not depend on
/// the thread count and does on the seed; rotation options without a rotation, Gemma 3 and GGUF inputs are refused by name.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class RotateMethodTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Sotu => SharedData.Model("sotu-llama-30m");
    private static string Train => SharedData.DataFile("sotu", "train-1790-2009.txt");

    public void Dispose() => _dir.Dispose();

    private static JsonNode Config(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;

    [Fact]
    public void RotateRtnIntoHfGptqIsTheRotateCommandFollowedByRtnByteForByte()
    {
        // Two steps: the rotated folder (F32, as `quantsharp rotate` writes it), then --method rtn.
        string rotatedFolder = _dir.File("sotu-rot");
        using (var m = LlamaModel.Load(Sotu))
        using (var rotated = ModelRotation.Rotate(m, new RotationOptions { Seed = 7 }))
            HfFloatCheckpointWriter.Write(Sotu, rotated.Weights, DType.F32, rotated.Parameters.TiedEmbeddings, rotatedFolder, rotation: rotated.Record);
        string twoSteps = _dir.File("two-steps"), oneStep = _dir.File("one-step");
        QuantSharpModel.Quantize(new QuantizeRequest { Model = rotatedFolder, Output = twoSteps, Method = QuantizeMethod.Rtn, Format = "hf-gptq" });
        var log = new List<string>();
        QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = Sotu, Output = oneStep, Method = QuantizeMethod.Rtn, Rotate = true, RotationSeed = 7, Format = "hf-gptq", OnInfo = log.Add,
        });
        foreach (var line in log) output.WriteLine(line);
        Assert.Equal(File.ReadAllBytes(Path.Combine(twoSteps, "model.safetensors")), File.ReadAllBytes(Path.Combine(oneStep, "model.safetensors")));
        Assert.Contains(log, l => l.StartsWith("rotation: R1 (residual, order 512)") && l.Contains("seed 7"));
        Assert.Contains(log, l => l.StartsWith("rotation: embeddings untied"));
        // Only the embedding and the untied head (2 × 8,192 × 512 fp32) and the final norm are rotated up front (into a
        // mapped temporary file); layers are rotated one at a time.
        Assert.Contains(log, l => l.StartsWith("rotation: embedding, head and final norm rotated") && l.Contains("into a mapped temporary file (32.0 MiB of fp32)")
            && l.Contains("each decoder layer is rotated when the run reaches it"));
        // The source's config, untied: loaders must read lm_head.
        Assert.True(Config(Sotu)["tie_word_embeddings"]!.GetValue<bool>());
        Assert.False(Config(oneStep)["tie_word_embeddings"]!.GetValue<bool>());
        using var st = SafetensorsModel.Open(oneStep);
        Assert.Contains("lm_head.weight", st.TensorNames);
    }

    [Fact]
    public void RotateGptqIntoHfGptqLoadsBackUntiedAndPredictsAsTheOriginal()
    {
        string outDir = _dir.File("rot-gptq");
        var result = QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = Sotu, Output = outDir, Method = QuantizeMethod.Gptq, Rotate = true, RotationSeed = 1, Format = "hf-gptq",
            Calibration = [Train], Samples = 8, SequenceLength = 128, Seed = 0,
        });
        Assert.Contains("method rotate+gptq", result.Description);
        Assert.False(Config(outDir)["tie_word_embeddings"]!.GetValue<bool>());
        using var original = LlamaModel.Load(Sotu);
        using var quantized = LlamaModel.Load(outDir);
        Assert.Equal("hf-gptq", quantized.Format);
        Assert.False(quantized.Parameters.TiedEmbeddings);
        Assert.True(quantized.Source.Contains("lm_head.weight"));
        Assert.All(quantized.OutputNorm, g => Assert.Equal(1f, g));
        // 4-bit rounding of a model that computes the original function: the same next token almost everywhere.
        int[] tokens = original.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt"))[..4000], addBos: true)[..128];
        int vocab = original.Parameters.VocabSize, same = 0;
        var a = new float[tokens.Length * vocab];
        var b = new float[tokens.Length * vocab];
        new InferenceSession(original, 256).Forward(tokens, a, allLogits: true);
        new InferenceSession(quantized, 256).Forward(tokens, b, allLogits: true);
        for (int i = 0; i < tokens.Length; i++)
            if (ArgMax(a.AsSpan(i * vocab, vocab)) == ArgMax(b.AsSpan(i * vocab, vocab))) same++;
        output.WriteLine($"rotate+gptq hf-gptq: same top token as the bf16 model at {same} of {tokens.Length} positions");
        Assert.True(same >= tokens.Length * 85 / 100, $"only {same} of {tokens.Length} positions agree with the original model");
    }

    [Fact]
    public void RotateAwqIntoHfAwqWritesTheUntiedHead()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Qwen2, _dir.File("qwen2"));
        string outDir = _dir.File("qwen2-rot-awq");
        QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = folder, Output = outDir, Method = QuantizeMethod.Awq, Rotate = true, Format = "hf-awq", GroupSize = 64,
            Calibration = [Train], Samples = 4, SequenceLength = 64,
        });
        Assert.False(Config(outDir)["tie_word_embeddings"]!.GetValue<bool>());
        Assert.Equal("awq", Config(outDir)["quantization_config"]!["quant_method"]!.GetValue<string>());
        using var m = LlamaModel.Load(outDir);
        Assert.Equal("hf-awq", m.Format);
        Assert.False(m.Parameters.TiedEmbeddings);
        Assert.True(m.Source.Contains("lm_head.weight"));
    }

    [Fact]
    public void SameSeedGivesTheSameBytesAtOneAndTwoThreadsAndAnotherSeedDoesNot()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama"));
        byte[] Run(string name, int threads, ulong seed)
        {
            string path = _dir.File(name);
            QuantSharpModel.Quantize(new QuantizeRequest
            {
                Model = folder, Output = path, Method = QuantizeMethod.Gptq, Rotate = true, RotationSeed = seed, Format = "gguf:Q4_K",
                Calibration = [Train], Samples = 4, SequenceLength = 64, Execution = new ExecutionOptions { Threads = threads },
            });
            return File.ReadAllBytes(path);
        }
        byte[] one = Run("t1.gguf", 1, 3), two = Run("t2.gguf", 2, 3), other = Run("seed4.gguf", 2, 4);
        Assert.Equal(one, two);
        Assert.NotEqual(one, other);
    }

    [Fact]
    public void RotationOptionsWithoutARotationAndUnrotatableModelsAreRefusedByName()
    {
        string output = _dir.File("out.gguf");
        var rtn = new QuantizeRequest { Model = Sotu, Output = output, Method = QuantizeMethod.Rtn, Format = "gguf:Q4_K" };
        var seed = Assert.Throws<QuantizeRequestException>(() => (rtn with { RotationSeed = 1 }).Validate());
        Assert.Equal("--rotation-seed", seed.Option);
        Assert.Contains("rotate+rtn", seed.Message);
        var r2 = Assert.Throws<QuantizeRequestException>(() => (rtn with { NoHeadRotation = true }).Validate());
        Assert.Equal("--no-r2", r2.Option);
        var mix = Assert.Throws<QuantizeRequestException>(() => new QuantizeRequest { Model = Sotu, Output = output, Type = "Q4_K_M", RotationSeed = 2 }.Validate());
        Assert.Equal("--rotation-seed", mix.Option);
        var alone = Assert.Throws<QuantizeRequestException>(() => new QuantizeRequest { Model = Sotu, Output = output, Type = "Q4_K_M", Rotate = true }.Validate());
        Assert.Equal("--method", alone.Option);
        Assert.Contains("rotate+gptq", alone.Message);
        // With a rotation the options are accepted; the method's own rules name it as written.
        (rtn with { Rotate = true, RotationSeed = 5, NoHeadRotation = true }).Validate();
        var calib = Assert.Throws<QuantizeRequestException>(() => (rtn with { Rotate = true, Method = QuantizeMethod.Awq }).Validate());
        Assert.Equal("--calib", calib.Option);
        Assert.Contains("--method rotate+awq ", calib.Message);

        // Gemma 3: the rotation's own message, before any work, nothing written.
        string gemma = ArchitectureFixture.Write(ArchitectureSpec.Gemma3, _dir.File("gemma"));
        var g = Assert.Throws<NotSupportedException>(() => QuantSharpModel.Quantize(rtn with { Model = gemma, Rotate = true }));
        Assert.Contains("gemma3_text", g.Message);
        Assert.Contains("not rotation-invariant", g.Message);
        Assert.False(File.Exists(output));
        // A GGUF input, even in F32: named, not rotated.
        string llama = ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama"));
        string f32 = _dir.File("llama-f32.gguf");
        using (var m = LlamaModel.Load(llama)) GgufLlamaExporter.Export(m, f32, GgmlType.F32);
        var gguf = Assert.Throws<NotSupportedException>(() => QuantSharpModel.Quantize(rtn with { Model = f32, Rotate = true }));
        Assert.Contains("rotating a GGUF is not implemented", gguf.Message);
        Assert.False(File.Exists(output));
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }
}
