// Every layer-streaming quantizer path on a model with one extreme but finite weight: finite blocks or a refusal naming the tensor.
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Reliability;

[Trait("Category", "RealModel")]
public sealed class ExtremeWeightPathsTests
{
    // 3.39e38 is finite in fp32 and bf16 but no fp16 scale can hold what it needs.
    private static readonly ArchitectureSpec Poisoned = ArchitectureSpec.Llama with { ExtremeWeight = 3.39e38f, Layers = 1 };

    public static TheoryData<string> Paths() => new() { "rtn-gguf:Q4_K", "gptq-gguf:Q4_K", "rtn-gguf:Q8_0", "rtn-hf", "gptq-hf" };

    [Theory]
    [MemberData(nameof(Paths))]
    public void WritesOnlyFiniteBlocksOrRefusesNamingTheTensor(string path)
    {
        using var dir = new TempDirectory();
        string folder = ArchitectureFixture.Write(Poisoned, dir.File("m"));
        string output = dir.File(path.EndsWith("hf") ? "out" : "out.gguf");
        var tokens = new int[8 * 64];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = (i * 7919) % Poisoned.Vocab;
        var calibration = CalibrationSet.FromTokens(tokens, 8, 64, seed: 0, "synthetic ids");
        var options = new GptqOptions { Bits = 4, GroupSize = 128, Fp16Scales = true };
        bool gptq = path.StartsWith("gptq", StringComparison.Ordinal);
        var ex = Record.Exception(() =>
        {
            using var model = LlamaModel.Load(folder);
            if (path.EndsWith("hf"))
            {
                ILinearQuantizer q = gptq ? new GptqLinearQuantizer(options) : new RtnLinearQuantizer(options);
                HfGptqExporter.Export(model, new LayerStreamingQuantizer(model, q, gptq ? calibration : null), options, output);
            }
            else
            {
                var type = path.EndsWith("Q8_0") ? DType.Q8_0 : DType.Q4_K;
                ILinearQuantizer q = gptq ? new GptqGgufLinearQuantizer(new GptqBlockOptions { Type = type }) : new RtnGgufLinearQuantizer(type);
                GgufStreamingExport.Export(model, new LayerStreamingQuantizer(model, q, gptq ? calibration : null), type, output);
            }
        });
        if (ex is null)
        {
            // Written: then every value must load back finite (block scales are checked at load too).
            using var loaded = LlamaModel.Load(output);
            Assert.All(loaded.Layers[0].Wq.ToFloat32(), v => Assert.True(float.IsFinite(v)));
            return;
        }
        Assert.True(ex is InvalidDataException or NotSupportedException, $"{path}: {ex.GetType().Name}: {ex.Message}");
        Assert.True(ex.Message.Contains("q_proj", StringComparison.Ordinal) || ex.Message.Contains("attn_q", StringComparison.Ordinal),
            $"{path}: the message does not name the tensor: {ex.Message}");
        Assert.False(File.Exists(output) || Directory.Exists(output), $"{path}: a refused run left {output}");
    }
}
