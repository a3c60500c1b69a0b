// Mean KL-divergence of GGUF files against a base model, every figure measured by llama.cpp (F32 KV cache): the issue-11 yardstick.
using System.Globalization;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.Quality;

/// <summary>
/// <c>kld --base F32.gguf --files a.gguf,b.gguf [--chunks 44] [--ctx 512] [--text FILE] [--threads 2] [--logits FILE]</c>:
/// llama.cpp computes the base model's log-probabilities over the first <c>--chunks</c> llama.cpp-style windows of the
/// text (BOS per window, second half scored), then each file's; prints bits per weight, file size, mean KLD ± its
/// standard error, PPL and the same-top-token rate. <c>--logits</c> keeps the base log-probabilities between runs.
/// </summary>
internal static class LlamaCppKldBenchmark
{
    public static int Run(string[] args)
    {
        string shared = SharedRoot();
        string basePath = Arg(args, "--base") ?? throw new ArgumentException("--base F32.gguf is required");
        string[] files = (Arg(args, "--files") ?? throw new ArgumentException("--files a.gguf,b.gguf is required")).Split(',', StringSplitOptions.RemoveEmptyEntries);
        string textPath = Arg(args, "--text") ?? Path.Combine(shared, "data", "sotu", "test-2010-on.txt");
        int chunks = int.Parse(Arg(args, "--chunks") ?? "44", CultureInfo.InvariantCulture);
        int ctx = int.Parse(Arg(args, "--ctx") ?? "512", CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg(args, "--threads") ?? "2", CultureInfo.InvariantCulture);
        string logitsPath = Arg(args, "--logits") ?? Path.Combine(Path.GetTempPath(), $"qs-kld-base-{chunks}x{ctx}.qslogits");

        if (!File.Exists(logitsPath))
        {
            using var m = LlamaModel.Load(basePath);
            var tok = m.Tokenizer ?? throw new InvalidDataException($"{basePath}: no tokenizer");
            var data = tok.ToTokenizerData();
            int[] tokens = tok.Encode(File.ReadAllText(textPath), addBos: data.AddBos);
            using var cpp = LlamaCppModel.Load(basePath);
            using var c = cpp.CreateContext(ctx, ctx, threads, f32Cache: true);
            var ppl = SavedLogits.Save(logitsPath, new LlamaCppLogitsProvider(c), tokens, ctx, data.AddBos ? tok.BosId : null, chunks);
            Console.WriteLine($"base {Path.GetFileName(basePath)}: {ppl} (llama.cpp, F32 cache) → {logitsPath}");
        }
        using var saved = SavedLogits.Open(logitsPath);
        Console.WriteLine($"{saved.Windows} windows of {ctx} of {Path.GetFileName(textPath)}");
        Console.WriteLine("| file | bpw (matrices) | bytes | mean KLD | PPL | same top |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var f in files)
        {
            var bpw = GgufBitsPerWeight.Of(f);
            using var cm = LlamaCppModel.Load(f);
            using var cc = cm.CreateContext(ctx, ctx, threads, f32Cache: true);
            var r = new KlDivergenceEvaluator(new LlamaCppLogitsProvider(cc)).Evaluate(saved);
            Console.WriteLine(FormattableString.Invariant(
                $"| {Path.GetFileName(f)} | {bpw.Matrices:F3} | {bpw.FileBytes:N0} | {r.MeanKld:F6} ± {r.KldStandardError:F6} | {r.ModelPerplexity.Perplexity:F4} | {r.SameTopTokenRate:P2} |"));
        }
        return 0;
    }
}
