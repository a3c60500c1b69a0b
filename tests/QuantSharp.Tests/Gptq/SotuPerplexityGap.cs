// Shared runs of the perplexity-gap checks: quantize sotu-llama-30m into an HF folder by the CLI, score it on the test years.
using QuantSharp.Evaluation;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Gptq;

/// <summary>
/// The pieces the GPTQ and AWQ perplexity-gap tests share: the test years' tokens, GPTQ-style perplexity over the
/// first <see cref="Windows"/> 512-token windows, and one <c>quantsharp quantize --format hf-gptq</c> run calibrated
/// on the training years.
/// </summary>
internal static class SotuPerplexityGap
{
    /// <summary>Windows scored (of 208): keeps the runs within CI's budget.</summary>
    public const int Windows = 64;

    public static string Model => SharedData.Model("sotu-llama-30m");

    /// <summary>The test years tokenized without BOS.</summary>
    public static int[] TestTokens()
    {
        using var m = LlamaModel.Load(Model);
        return m.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: false);
    }

    /// <summary>GPTQ-style perplexity of <paramref name="model"/> over the first <paramref name="windows"/> (default <see cref="Windows"/>) windows.</summary>
    public static double Perplexity(string model, int[] tokens, int windows = Windows)
    {
        using var m = LlamaModel.Load(model);
        var r = new PerplexityEvaluator(new SessionLogitsProvider(m, 512)).Evaluate(tokens, 512, PerplexityStyle.Gptq, maxWindows: windows);
        Assert.Equal(windows, r.Windows);
        return r.Perplexity;
    }

    /// <summary>
    /// <c>quantize --method <paramref name="method"/> --format hf-gptq</c> with <paramref name="options"/> (grid and
    /// calibration size) into a folder <paramref name="name"/> of <paramref name="dir"/>, seed 0, calibrated on the training years.
    /// </summary>
    public static string Quantize(TempDirectory dir, string name, string method, params string[] options)
    {
        string outDir = dir.File(name);
        string[] args = ["quantize", Model, "--method", method, "--format", "hf-gptq", .. options,
            "--calib", SharedData.DataFile("sotu", "train-1790-2009.txt"), "--seed", "0", "-o", outDir];
        var r = QuantSharpProcess.Run(args);
        Assert.True(r.Code == 0, $"{name}: {r.Err}");
        return outDir;
    }
}
