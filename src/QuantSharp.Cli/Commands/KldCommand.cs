// quantsharp kld: KL-divergence of a model against a base model (or its saved log-probabilities).
using System.CommandLine;
using QuantSharp.Core.IO;
using QuantSharp.Evaluation;
using QuantSharp.Models.Llama;

namespace QuantSharp.Cli.Commands;

internal static class KldCommand
{
    private const string BaseLogitsPrefix = "quantsharp-base-";

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var baseLogits = new Option<string?>("--base-logits") { Description = "Log-probabilities saved by `perplexity --style llamacpp --save-logits`" };
        var baseModel = new Option<string?>("--base") { Description = "Base model to compare with (its log-probabilities are computed first)" };
        var text = new Option<FileInfo?>("--text") { Description = "Evaluation text (with --base)" };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Window length (with --base)", DefaultValueFactory = _ => 512 };
        var chunks = new Option<int?>("--chunks") { Description = "At most this many windows (with --base)" };
        var threads = CommonOptions.Threads();
        var cmd = new Command("kld", "KL-divergence, Δp and same-top-token rate against a base model") { model, baseLogits, baseModel, text, ctx, chunks, threads };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            string? logitsPath = r.GetValue(baseLogits);
            string? basePath = r.GetValue(baseModel);
            if ((logitsPath == null) == (basePath == null)) throw new ArgumentException("give exactly one of --base-logits FILE or --base MODEL --text FILE");
            string? temp = null;
            try
            {
                if (basePath != null)
                {
                    var file = r.GetValue(text) ?? throw new ArgumentException("--base needs --text FILE");
                    if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: text file not found");
                    int n = r.GetValue(ctx);
                    if (n < 2) throw new ArgumentException($"--ctx must be at least 2, got {n}");
                    using var b = LlamaModel.Load(basePath);
                    var tok = b.Tokenizer ?? throw new InvalidDataException($"{b.Origin}: the base model has no tokenizer");
                    var data = tok.ToTokenizerData();
                    int[] tokens = tok.Encode(File.ReadAllText(file.FullName), addBos: data.AddBos);
                    // quantsharp-base-<pid>-<guid>: those of killed runs (kill -9) are swept by the next one.
                    AtomicFile.SweepStaleIn(Path.GetTempPath(), BaseLogitsPrefix);
                    temp = Path.Combine(Path.GetTempPath(), $"{BaseLogitsPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}.qslogits");
                    CommandRunner.WithProgress("base model", p => SavedLogits.Save(temp, new SessionLogitsProvider(b, n), tokens, n, data.AddBos ? tok.BosId : null, r.GetValue(chunks), p));
                    logitsPath = temp;
                }
                using var saved = SavedLogits.Open(logitsPath!);
                using var m = LlamaModel.Load(r.GetValue(model)!);
                var result = CommandRunner.WithProgress("kld", p => new KlDivergenceEvaluator(new SessionLogitsProvider(m, saved.ContextLength)) { Progress = p }.Evaluate(saved));
                Console.WriteLine($"positions          {result.Positions}");
                Console.WriteLine($"base PPL           {result.BasePerplexity.Perplexity:F4} ± {result.BasePerplexity.StandardError:F4}");
                Console.WriteLine($"model PPL          {result.ModelPerplexity.Perplexity:F4} ± {result.ModelPerplexity.StandardError:F4}");
                Console.WriteLine($"mean KLD           {result.MeanKld:F6} ± {result.KldStandardError:F6}");
                Console.WriteLine($"max KLD            {result.MaxKld:F6}");
                Console.WriteLine($"mean Δp            {100 * result.MeanDeltaP:F3} %");
                Console.WriteLine($"RMS Δp             {100 * result.RmsDeltaP:F3} %");
                Console.WriteLine($"same top token     {100 * result.SameTopTokenRate:F3} %");
                return 0;
            }
            finally
            {
                if (temp != null) File.Delete(temp);
            }
        }));
        return cmd;
    }
}
