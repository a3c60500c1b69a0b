// Every supported architecture against an independent float64 forward written from transformers' code.
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Architectures;

[Trait("Category", "RealModel")]
public sealed class ArchitectureReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<string> Specs() => new() { "llama", "mistral", "mistral-swa16", "qwen2", "qwen3", "gemma3", "qwen3_moe", "mixtral", "phi3", "phi3-swa16" };

    internal static ArchitectureSpec Spec(string name) => name switch
    {
        "llama" => ArchitectureSpec.Llama,
        "mistral" => ArchitectureSpec.Mistral,
        "mistral-swa16" => ArchitectureSpec.MistralWindow,
        "qwen2" => ArchitectureSpec.Qwen2,
        "qwen3" => ArchitectureSpec.Qwen3,
        "gemma3" => ArchitectureSpec.Gemma3,
        "qwen3_moe" => ArchitectureSpec.Qwen3Moe,
        "mixtral" => ArchitectureSpec.Mixtral,
        "phi3" => ArchitectureSpec.Phi3,
        "phi3-swa16" => ArchitectureSpec.Phi3Window,
        _ => throw new ArgumentException(name),
    };

    // 80 tokens of real text: longer than the sliding window of 16, so the window decides the result.
    internal static int[] Tokens(int count)
    {
        using var sotu = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        return sotu.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt"))[..60000])[..count];
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void EngineLogitsFromTheHfFolderMatchTheFloat64Reference(string name)
    {
        var spec = Spec(name);
        using var dir = new TempDirectory();
        string folder = ArchitectureFixture.Write(spec, dir.File(spec.Name));
        int[] tokens = Tokens(80);
        var reference = new ReferenceDecoder(folder).Forward(tokens);
        using var model = LlamaModel.Load(folder);
        Assert.Equal(spec.ModelType, model.Parameters.Architecture.Name);
        Assert.Equal(spec.SlidingWindow, model.Parameters.SlidingWindow);
        var ours = new float[reference.Length];
        // Prefill of 48 then 32 one at a time: both the batched and the decode paths (and the KV cache) are checked.
        var session = new InferenceSession(model, 128);
        int v = spec.Vocab;
        session.Forward(tokens.AsSpan(0, 48), ours.AsSpan(0, 48 * v), allLogits: true);
        for (int t = 48; t < tokens.Length; t++) session.Forward(tokens.AsSpan(t, 1), ours.AsSpan(t * v, v), allLogits: false);
        double min = reference.Min(), max = reference.Max(), worst = 0;
        for (int i = 0; i < ours.Length; i++) worst = Math.Max(worst, Math.Abs(ours[i] - reference[i]));
        output.WriteLine($"{name}: max |Δ| {worst:E3}, logit range {max - min:F3}");
        Assert.True(max - min > 5, $"degenerate fixture: logit range {max - min}");
        Assert.True(worst <= 1e-4 * (max - min), $"{name}: max |Δ| {worst} vs range {max - min}");
    }

    [Fact]
    public void TheSlidingWindowChangesTheResultOncePastTheWindow()
    {
        using var dir = new TempDirectory();
        int[] tokens = Tokens(40);
        using var full = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Mistral, dir.File("full")));
        using var windowed = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.MistralWindow, dir.File("window")));
        Assert.Null(full.Parameters.SlidingWindow);
        Assert.Equal(16, windowed.Parameters.SlidingWindow);
        int v = ArchitectureSpec.Mistral.Vocab;
        var a = new float[tokens.Length * v];
        var b = new float[tokens.Length * v];
        new InferenceSession(full, 64).Forward(tokens, a, allLogits: true);
        new InferenceSession(windowed, 64).Forward(tokens, b, allLogits: true);
        Assert.Equal(a.AsSpan(0, 16 * v).ToArray(), b.AsSpan(0, 16 * v).ToArray());
        Assert.NotEqual(a.AsSpan(16 * v, v).ToArray(), b.AsSpan(16 * v, v).ToArray());
    }

    [Theory]
    [InlineData("mistral-swa16")]
    [InlineData("phi3-swa16")] // llama.cpp b8390 reads phi3's window and ignores it ("Phi SWA is currently disabled")
    public void ASlidingWindowModelIsNotWrittenAsAGgufThatWouldIgnoreIt(string name)
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(ArchitectureFixture.Write(Spec(name), dir.File("m")));
        var ex = Assert.Throws<NotSupportedException>(() => GgufLlamaExporter.Export(model, dir.File("m.gguf"), QuantSharp.Formats.Gguf.GgmlType.F32));
        Assert.Contains("sliding_window 16", ex.Message);
        Assert.False(File.Exists(dir.File("m.gguf")));
    }

    [Fact]
    public void AGgufNameThatMakesLlamaCppLookUpPhi3TokensTheVocabularyLacksIsRefused()
    {
        // The folder "phi3" becomes general.name; llama.cpp then needs </s>, <unk>, <s>, <|endoftext|> (sotu's vocabulary has only the last).
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Phi3, dir.File("phi3")));
        var ex = Assert.Throws<NotSupportedException>(() => GgufLlamaExporter.Export(model, dir.File("p.gguf"), QuantSharp.Formats.Gguf.GgmlType.F32));
        Assert.Contains("</s>, <unk>, <s>", ex.Message);
        Assert.False(File.Exists(dir.File("p.gguf")));
        GgufLlamaExporter.Export(model, dir.File("q.gguf"), QuantSharp.Formats.Gguf.GgmlType.F32, name: "fixture");
        Assert.True(File.Exists(dir.File("q.gguf")));
    }

    [Fact]
    public void APhi3WhoseQueryWidthIsNotHiddenIsNotWrittenAsAGgufLlamaCppCannotLoad()
    {
        // llama.cpp's phi3 sizes attn_output [hidden, hidden]: 8 heads of 64 on a hidden width of 256 does not fit.
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Phi3 with { HeadDim = 64 }, dir.File("m")));
        var ex = Assert.Throws<NotSupportedException>(() => GgufLlamaExporter.Export(model, dir.File("m.gguf"), QuantSharp.Formats.Gguf.GgmlType.F32));
        Assert.Contains("heads × head_dim = 512", ex.Message);
    }

    [Theory]
    [InlineData("qwen2", "use_sliding_window", "true")]
    [InlineData("llama", "sliding_window", "16")]
    [InlineData("llama", "final_logit_softcapping", "30.0")]
    [InlineData("llama", "num_local_experts", "8")]
    [InlineData("qwen3_moe", "mlp_only_layers", "[1]")]
    [InlineData("qwen3_moe", "decoder_sparse_step", "2")]
    [InlineData("qwen3", "partial_rotary_factor", "0.5")]
    [InlineData("llama", "attention_bias", "true")]
    [InlineData("llama", "layer_types", "[\"sliding_attention\", \"full_attention\"]")]
    [InlineData("phi3", "rope_scaling", "{\"type\": \"longrope\", \"long_factor\": [1.0], \"short_factor\": [1.0]}")]
    [InlineData("phi3", "partial_rotary_factor", "0.75")]
    public void AConfigKeyTheEngineDoesNotImplementIsRefusedByName(string arch, string key, string json)
    {
        using var dir = new TempDirectory();
        string folder = ArchitectureFixture.Write(ArchitectureReferenceTests.Spec(arch), dir.File(arch));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        config[key] = System.Text.Json.Nodes.JsonNode.Parse(json);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var ex = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(folder));
        Assert.Contains(key, ex.Message);
    }

    [Fact]
    public void ATensorTheArchitectureDoesNotHaveIsRefusedRatherThanIgnored()
    {
        // A Qwen2 checkpoint declared as Llama: its q/k/v biases would be dropped silently.
        using var dir = new TempDirectory();
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Qwen2, dir.File("q"));
        string path = Path.Combine(folder, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"qwen2\"", "\"llama\"").Replace("Qwen2ForCausalLM", "LlamaForCausalLM").Replace("\"use_sliding_window\":false,", "").Replace("\"max_window_layers\":2,", "").Replace("\"sliding_window\":512,", ""));
        var ex = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(folder));
        Assert.Contains("q_proj.bias", ex.Message);
    }
}
