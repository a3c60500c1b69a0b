// quantsharp imatrix: collect an importance matrix over calibration text, written as llama-imatrix does (GGUF or legacy .dat).
using System.CommandLine;
using System.Diagnostics;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using Spectre.Console;

namespace QuantSharp.Cli.Commands;

internal static class ImatrixCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new Option<FileInfo>("--text", "-f") { Description = "Calibration text (UTF-8)", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Output imatrix file (temporary file, renamed when complete)", Required = true };
        var chunks = new Option<int?>("--chunks") { Description = "Evaluate at most this many chunks (default: all that fit)" };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Tokens per chunk", DefaultValueFactory = _ => 512 };
        var processOutput = new Option<bool>("--process-output") { Description = "Also collect output.weight (an untied classifier; llama-imatrix --process-output)" };
        var format = new Option<string>("--output-format") { Description = "gguf (llama-imatrix's default) or dat (legacy)", DefaultValueFactory = _ => "gguf" };
        format.AcceptOnlyFromAmong("gguf", "dat");
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("imatrix", "Collect an importance matrix (per-column mean squared activations of every linear weight) in llama.cpp's imatrix format")
            { model, text, output, chunks, ctx, processOutput, format, threads, tokenizer };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            var file = r.GetValue(text)!;
            if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: text file not found");
            int? maxChunks = r.GetValue(chunks);
            if (maxChunks is < 1) throw new ArgumentException($"--chunks must be at least 1, got {maxChunks}");
            int n = r.GetValue(ctx);
            if (n < ActivationSquareSums.MinimumRows)
                throw new ArgumentException($"--ctx must be at least {ActivationSquareSums.MinimumRows} (llama-imatrix ignores shorter batches), got {n}");
            var fileFormat = r.GetValue(format) == "dat" ? ImatrixFormat.Legacy : ImatrixFormat.Gguf;
            string modelPath = r.GetValue(model)!;
            string outPath = Path.GetFullPath(r.GetValue(output)!);
            // Never overwrite an input: the model file(s), the text and the tokenizer.
            var inputs = CommonOptions.Inputs(modelPath, file.FullName, r.GetValue(tokenizer));

            using var m = LlamaModel.Load(modelPath, r.GetValue(tokenizer));
            if (n > m.Parameters.ContextLength)
                AnsiConsole.MarkupLine($"[yellow]warning:[/] --ctx {n} exceeds the model's training context {m.Parameters.ContextLength}");
            if (r.GetValue(processOutput) && m.Parameters.TiedEmbeddings)
                AnsiConsole.MarkupLine("[yellow]warning:[/] the classifier is tied to token_embd.weight, so there is no output.weight to collect (llama-imatrix collects nothing for it either)");
            var (tokens, bos) = ImatrixCalibration.Tokenize(m, File.ReadAllText(file.FullName));
            var options = new ImatrixOptions
            {
                ContextLength = n,
                MaxChunks = maxChunks,
                ProcessOutput = r.GetValue(processOutput),
                Datasets = [file.ToString()],
            };
            int total = ImatrixCalibration.ChunkCount(tokens.Length, options);
            Console.WriteLine($"{tokens.Length} tokens; computing over {total} chunks of {n}{(bos != null ? ", BOS per chunk" : "")}");
            var clock = Stopwatch.StartNew();
            var matrix = CommandRunner.WithProgress("imatrix", p => ImatrixCalibration.Collect(m, tokens, bos, options, p, CommandRunner.Cancellation));
            double seconds = clock.Elapsed.TotalSeconds;
            ImatrixFile.Write(matrix, outPath, fileFormat, inputs);
            Console.WriteLine($"collected {matrix.Entries.Count} weights over {matrix.ChunkCount} chunks in {seconds:F1} s ({total * (long)n / Math.Max(seconds, 1e-9):F0} tokens/s)");
            Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length:N0} bytes, {(fileFormat == ImatrixFormat.Gguf ? "GGUF" : "legacy .dat")})");
            return 0;
        }));
        return cmd;
    }
}
