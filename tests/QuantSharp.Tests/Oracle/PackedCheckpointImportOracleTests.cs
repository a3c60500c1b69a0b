// A GPTQ folder and an AWQ folder of the same run score the same; both import into the same Q4_1 GGUF, which our engine and llama.cpp score within 0.1 %.
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

/// <summary>
/// sotu-llama-30m quantized by GPTQ (4-bit, g128, asymmetric; 8 × 128 calibration tokens) into hf-gptq and hf-awq with the
/// same settings, then <c>quantsharp convert</c> of each folder. GPTQ-style perplexity on the first <see cref="Windows"/>
/// 512-token windows of the test years (no BOS), one evaluator for every model and engine.
/// </summary>
[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class PackedCheckpointImportOracleTests(ITestOutputHelper output)
{
    private const int Windows = 4;

    private static string Quantize(TempDirectory dir, string format)
    {
        string outDir = dir.File(format);
        var r = QuantSharpProcess.Run(["quantize", SharedData.Model("sotu-llama-30m"), "--method", "gptq", "--format", format, "--bits", "4", "--group-size", "128",
            "--asym", "--calib", SharedData.DataFile("sotu", "train-1790-2009.txt"), "--nsamples", "8", "--seqlen", "128", "--seed", "0", "-o", outDir]);
        Assert.True(r.Code == 0, $"{format}: {r.Err}");
        return outDir;
    }

    private static string Convert(string folder, string gguf)
    {
        var r = QuantSharpProcess.Run(["convert", folder, "-o", gguf]);
        Assert.True(r.Code == 0, $"convert {folder}: {r.Err}");
        return r.Err;
    }

    private static double Ours(string model, int[] tokens)
    {
        using var m = LlamaModel.Load(model);
        return new PerplexityEvaluator(new SessionLogitsProvider(m, 512)).Evaluate(tokens, 512, PerplexityStyle.Gptq, maxWindows: Windows).Perplexity;
    }

    [OracleFact]
    public void GptqAndAwqFoldersScoreTheSameAndTheirQ4_1ImportRunsInLlamaCppWithinATenthOfAPercent()
    {
        using var dir = new TempDirectory();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        string gptq = Quantize(dir, "hf-gptq"), awq = Quantize(dir, "hf-awq");
        output.WriteLine($"quantize ×2: {sw.Elapsed.TotalSeconds:F1} s");
        int[] tokens;
        using (var a = LlamaModel.Load(gptq))
        using (var b = LlamaModel.Load(awq))
        {
            Assert.Equal("hf-gptq", a.Format);
            Assert.Equal("hf-awq", b.Format);
            // Same run, same grid: the two layouts dequantize to the same weights, bit for bit.
            for (int l = 0; l < a.Layers.Length; l++)
                foreach (var k in LlamaLinearExtensions.All)
                    Assert.True(a.Layers[l].Weight(k).ToFloat32().AsSpan().SequenceEqual(b.Layers[l].Weight(k).ToFloat32()), $"layer {l} {k}");
            tokens = a.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: false);
        }
        sw.Restart();
        double pGptq = Ours(gptq, tokens), pAwq = Ours(awq, tokens);
        output.WriteLine($"folder PPL ×2: {sw.Elapsed.TotalSeconds:F1} s");
        sw.Restart();
        Assert.True(Math.Abs(pAwq / pGptq - 1) <= 1e-6, $"hf-awq {pAwq} vs hf-gptq {pGptq}");

        string fromGptq = dir.File("from-gptq.gguf"), fromAwq = dir.File("from-awq.gguf");
        string log = Convert(gptq, fromGptq);
        Convert(awq, fromAwq);
        Assert.Contains("Q4_1: 56 tensors from the hf-gptq grid", log);
        using (var g1 = new GgufFile(fromGptq))
        using (var g2 = new GgufFile(fromAwq))
        {
            Assert.Equal(GgmlType.Q4_1, g1.GetInfo("blk.0.attn_q.weight").Type);
            Assert.Equal(GgmlType.F16, g1.GetInfo("token_embd.weight").Type);
            // Both imports hold the same blocks (only general.name, the folder's name, differs).
            foreach (var name in g1.TensorNames)
                Assert.True(g1.GetRawBytes(name).SequenceEqual(g2.GetRawBytes(name)), name);
        }

        output.WriteLine($"convert ×2 + compare: {sw.Elapsed.TotalSeconds:F1} s");
        sw.Restart();
        double ours = Ours(fromGptq, tokens);
        output.WriteLine($"GGUF PPL ours: {sw.Elapsed.TotalSeconds:F1} s");
        sw.Restart();
        double cpp;
        using (var model = LlamaCppModel.Load(fromGptq))
        using (var ctx = model.CreateContext(512, 512, threads: 2, f32Cache: true))
            cpp = new PerplexityEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(tokens, 512, PerplexityStyle.Gptq, maxWindows: Windows).Perplexity;
        output.WriteLine($"GGUF PPL llama.cpp: {sw.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"PPL ({Windows} windows of 512, GPTQ style): hf-gptq {pGptq:F4}, hf-awq {pAwq:F4}, imported Q4_1 GGUF ours {ours:F4} ({ours / pGptq - 1:+0.000%;-0.000%}), llama.cpp {cpp:F4} ({cpp / pGptq - 1:+0.000%;-0.000%})");
        Assert.True(Math.Abs(ours / pGptq - 1) < 1e-3, $"imported GGUF, our engine: {ours} vs folder {pGptq}");
        Assert.True(Math.Abs(cpp / pGptq - 1) < 1e-3, $"imported GGUF, llama.cpp: {cpp} vs folder {pGptq}");
    }
}
