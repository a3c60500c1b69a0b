// The check that GPTQ rounding into k-quant blocks beats llama.cpp's importance-matrix k-quants, scored by llama.cpp.
using QuantSharp.Evaluation;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

/// <summary>
/// sotu-llama-30m, every 2-D weight in one k-quant type: (a) round-to-nearest (llama-quantize
/// --pure), (b) with an importance matrix collected on the calibration text (our imatrix and our
/// quantizer, whose bytes are llama.cpp's for the same entries — ImportanceMixOracleTests), (c) GPTQ
/// into the same blocks, calibrated on the same text. Each file's mean KL-divergence against the F32
/// model is measured by llama.cpp (b8390, F32 KV cache) on the first <see cref="Windows"/>
/// llama.cpp-style windows of the test years.
/// </summary>
[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class GptqKQuantKldTests(ConvertedModels models, ITestOutputHelper output)
{
    private const int Windows = 40;

    private static void Cli(params string[] args)
    {
        var r = QuantSharpProcess.Run(args);
        Assert.True(r.Code == 0, $"quantsharp {string.Join(' ', args)}: {r.Err}");
    }

    private static KlDivergenceResult Kld(string path, SavedLogits baseLogits)
    {
        using var cpp = LlamaCppModel.Load(path);
        using var ctx = cpp.CreateContext(512, 512, threads: 2, f32Cache: true);
        return new KlDivergenceEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(baseLogits);
    }

    [OracleFact]
    public void GptqQ4KAndQ3KHaveLowerKldThanImatrixQuantsMeasuredByLlamaCpp()
    {
        using var dir = new TempDirectory();
        string sotu = SharedData.Model("sotu-llama-30m"), train = SharedData.DataFile("sotu", "train-1790-2009.txt");

        // Base log-probabilities from llama.cpp on the F32 GGUF (bf16 widened exactly).
        string basePath = dir.File("base.qslogits");
        using (var m = LlamaModel.Load(sotu))
        using (var cpp = LlamaCppModel.Load(models.SotuGguf))
        using (var ctx = cpp.CreateContext(512, 512, threads: 2, f32Cache: true))
        {
            var tok = m.Tokenizer!;
            var data = tok.ToTokenizerData();
            int[] tokens = tok.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: data.AddBos);
            SavedLogits.Save(basePath, new LlamaCppLogitsProvider(ctx), tokens, 512, data.AddBos ? tok.BosId : null, Windows);
        }
        using var baseLogits = SavedLogits.Open(basePath);
        Assert.Equal(Windows, baseLogits.Windows);

        // The same calibration budget for both data-aware methods: 32 × 512 tokens of the training years.
        string imatrix = dir.File("sotu.imatrix.gguf");
        Cli("imatrix", sotu, "-f", train, "--chunks", "32", "-o", imatrix);
        foreach (var type in new[] { "Q4_K", "Q3_K" })
        {
            string rtn = dir.File($"rtn-{type}.gguf"), imx = dir.File($"imatrix-{type}.gguf"), gptq = dir.File($"gptq-{type}.gguf");
            Cli("quantize", sotu, "--pure", "--type", type, "-o", rtn);
            Cli("quantize", sotu, "--pure", "--type", type, "--imatrix", imatrix, "-o", imx);
            Cli("quantize", sotu, "--method", "gptq", "--format", $"gguf:{type}", "--calib", train, "--nsamples", "32", "--seqlen", "512", "--seed", "0", "-o", gptq);
            var a = Kld(rtn, baseLogits);
            var b = Kld(imx, baseLogits);
            var c = Kld(gptq, baseLogits);
            output.WriteLine($"{type}, mean KLD / same top token over {a.Positions} positions (llama.cpp): RTN {a.MeanKld:F6} / {a.SameTopTokenRate:P2}, " +
                $"imatrix {b.MeanKld:F6} / {b.SameTopTokenRate:P2}, GPTQ {c.MeanKld:F6} / {c.SameTopTokenRate:P2}");
            Assert.True(c.MeanKld < b.MeanKld, $"{type}: GPTQ's mean KLD {c.MeanKld} is not below the imatrix file's {b.MeanKld}");
            Assert.True(b.MeanKld < a.MeanKld, $"{type}: the imatrix file's mean KLD {b.MeanKld} is not below round-to-nearest's {a.MeanKld}");
        }
    }
}
