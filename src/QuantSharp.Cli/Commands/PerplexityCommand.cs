// quantsharp perplexity: perplexity of a model on a text file, in the GPTQ or llama.cpp convention.
using System.CommandLine;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Llama;
using Spectre.Console;

namespace QuantSharp.Cli.Commands;

internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new Option<FileInfo>("--text") { Description = "Evaluation text (UTF-8)", Required = true };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Window length in tokens", DefaultValueFactory = _ => 512 };
        var style = new Option<string>("--style") { Description = "gptq: every token of non-overlapping windows; llamacpp: second half of each window, BOS per window; documents: each <|endoftext|>-separated document from BOS", DefaultValueFactory = _ => "gptq" };
        style.AcceptOnlyFromAmong("gptq", "llamacpp", "documents");
        var chunks = new Option<int?>("--chunks") { Description = "Evaluate at most this many windows" };
        var save = new Option<string?>("--save-logits") { Description = "llamacpp style: also save the log-probabilities for `quantsharp kld --base-logits`" };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("perplexity", "Perplexity of a model on a text file") { model, text, ctx, style, chunks, save, threads, tokenizer };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            int n = r.GetValue(ctx);
            if (n < 2) throw new ArgumentException($"--ctx must be at least 2, got {n}");
            var file = r.GetValue(text)!;
            if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: text file not found");
            string s = r.GetValue(style)!;
            string? savePath = r.GetValue(save);
            if (savePath != null && s != "llamacpp") throw new ArgumentException("--save-logits goes with --style llamacpp");

            using var m = LlamaModel.Load(r.GetValue(model)!, r.GetValue(tokenizer));
            var tok = m.Tokenizer ?? throw new InvalidDataException($"{m.Origin}: the model has no tokenizer; pass --tokenizer");
            if (n > m.Parameters.ContextLength)
                AnsiConsole.MarkupLine($"[yellow]warning:[/] --ctx {n} exceeds the model's training context {m.Parameters.ContextLength}");
            var provider = new SessionLogitsProvider(m, n);
            string content = File.ReadAllText(file.FullName);
            var data = tok.ToTokenizerData();
            PerplexityResult result;
            string convention;
            if (s == "documents")
            {
                var docs = DocumentSplitter.Split(content);
                var encoded = docs.ConvertAll(d => tok.Encode(d, addBos: tok.BosId != null));
                result = CommandRunner.WithProgress("perplexity", p => new PerplexityEvaluator(provider) { Progress = p }.EvaluateDocuments(encoded, n));
                convention = $"{docs.Count} documents, each from BOS, at most {n} tokens, every predicted token scored";
            }
            else
            {
                bool llamacpp = s == "llamacpp";
                int[] tokens = tok.Encode(content, addBos: llamacpp && data.AddBos);
                int? bos = llamacpp && data.AddBos ? tok.BosId : null;
                if (savePath != null)
                    result = CommandRunner.WithProgress("perplexity", p => SavedLogits.Save(savePath, provider, tokens, n, bos, r.GetValue(chunks), p, CommandRunner.Cancellation, CommonOptions.Inputs(r.GetValue(model)!, file.FullName, r.GetValue(tokenizer))));
                else
                    result = CommandRunner.WithProgress("perplexity", p => new PerplexityEvaluator(provider) { Progress = p }.Evaluate(tokens, n, llamacpp ? PerplexityStyle.LlamaCpp : PerplexityStyle.Gptq, bos, r.GetValue(chunks)));
                convention = llamacpp
                    ? $"llama.cpp style: {tokens.Length} tokens, windows of {n}, second half scored{(bos != null ? ", BOS per window" : "")}"
                    : $"GPTQ style: {tokens.Length} tokens, non-overlapping windows of {n}, every token scored";
            }
            Console.WriteLine($"{convention}");
            Console.WriteLine($"PPL = {result.Perplexity:F4} ± {result.StandardError:F4} (95% CI ± {result.Confidence95:F4}), {result.ScoredTokens} tokens scored in {result.Windows} windows");
            if (savePath != null) Console.WriteLine($"log-probabilities saved to {savePath}");
            return 0;
        }));
        return cmd;
    }
}
