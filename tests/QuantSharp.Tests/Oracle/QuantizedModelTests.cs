// Our engine on llama.cpp-quantized GGUF files (llama.cpp's mixes and --pure files of every block type) against llama.cpp itself.
using QuantSharp.Evaluation;
using QuantSharp.LlamaCpp;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

/// <summary>
/// sotu-llama-30m exported to F32 GGUF, quantized by llama_model_quantize, then run by both
/// engines. Both quantize activations to int8 per block, but with different rounding details and
/// summation orders, so agreement is close but not the 1e-3 of the float models. Set
/// QUANTSHARP_KEEP_QUANTIZED to a folder to keep the quantized files (for the e2e benchmark).
/// </summary>
[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class QuantizedModelTests(ConvertedModels models, ITestOutputHelper output)
{
    /// <summary>
    /// llama.cpp's default mixes, and --pure files (every tensor, token embedding included, in the
    /// one type) for the types whose integer kernels the mixes would leave mostly unexercised.
    /// </summary>
    public static TheoryData<LlamaFileType, bool> FileTypes() => new()
    {
        { LlamaFileType.MostlyQ8_0, false }, { LlamaFileType.MostlyQ4_0, false }, { LlamaFileType.MostlyQ4_K_M, false },
        { LlamaFileType.MostlyQ6_K, false }, { LlamaFileType.MostlyQ2_K, false },
        { LlamaFileType.MostlyQ4_1, true }, { LlamaFileType.MostlyQ5_0, true }, { LlamaFileType.MostlyQ5_1, true },
        { LlamaFileType.MostlyIQ4_NL, true }, { LlamaFileType.MostlyQ2_K, true }, { LlamaFileType.MostlyQ3_K_M, true },
        { LlamaFileType.MostlyQ5_K_M, true }, { LlamaFileType.MostlyIQ4_XS, true },
    };

    [OracleTheory]
    [MemberData(nameof(FileTypes))]
    public void LogitsAndPerplexityAgreeWithLlamaCpp(LlamaFileType fileType, bool pure)
    {
        string dir = Directory.CreateTempSubdirectory("qs-quant-").FullName;
        try
        {
            string path = Path.Combine(dir, $"sotu-{fileType}{(pure ? "-pure" : "")}.gguf");
            LlamaCppQuantizer.Quantize(models.SotuGguf, path, fileType, threads: 2, pure);
            if (Environment.GetEnvironmentVariable("QUANTSHARP_KEEP_QUANTIZED") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                File.Copy(path, Path.Combine(keep, Path.GetFileName(path)), overwrite: true);
            }

            using var ours = LlamaModel.Load(path);
            using var cpp = LlamaCppModel.Load(path);
            using var ctx = cpp.CreateContext(512, 512, threads: 2, f32Cache: true);
            var tok = ours.Tokenizer!;
            var data = tok.ToTokenizerData();
            int[] all = tok.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: data.AddBos);

            // One 512-token window, every position's logits.
            int[] window = all[..512];
            float[] reference = ctx.Evaluate(window);
            var got = new float[reference.Length];
            new InferenceSession(ours, 512).Forward(window, got, allLogits: true);
            float range = reference.Max() - reference.Min(), worst = 0;
            for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - reference[i]));

            // llama.cpp-style perplexity over the first 20 windows, one evaluator for both engines.
            int? bos = data.AddBos ? tok.BosId : null;
            var a = new PerplexityEvaluator(new SessionLogitsProvider(ours, 512)).Evaluate(all, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 20);
            var b = new PerplexityEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(all, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 20);
            double rel = a.Perplexity / b.Perplexity - 1;
            output.WriteLine($"{fileType}{(pure ? " pure" : "")}: {new FileInfo(path).Length / 1024} KiB, max |Δlogit| {worst:G4} / range {range:G4} = {worst / range:E2}; PPL(20 windows) ours {a.Perplexity:F4} llama.cpp {b.Perplexity:F4} ({rel:+0.000%;-0.000%})");
            Assert.Equal(20, a.Windows);
            Assert.True(worst <= 2e-2f * range, $"{fileType}: max |Δ| {worst} vs logit range {range}");
            Assert.True(Math.Abs(rel) < 2e-3, $"{fileType}: ours {a} vs llama.cpp {b}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
