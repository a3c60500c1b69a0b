// Quality of every llama.cpp named mix on a real model: llama.cpp's quantizer vs ours, without and with our imatrix, scored by both engines.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using QuantSharp.Core.Kernels;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Imatrix;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Recipes;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.Quality;

/// <summary>
/// The quality table of issue 3: the model (bf16 safetensors) is exported to an F32 GGUF (lossless
/// for bf16) and an F16 GGUF; our imatrix is collected on the calibration text; for every named mix
/// three files are made: (a) llama_model_quantize without an imatrix (its C API in b8390 takes
/// none), (b) our quantizer without one (compared byte for byte with (a)), (c) our quantizer with
/// our imatrix. Every distinct file is scored on the first <c>--chunks</c> llama.cpp-style windows
/// (BOS per window, second half scored) of the evaluation text by our engine and by llama.cpp,
/// both through the same <see cref="KlDivergenceEvaluator"/> against the F32 base model's
/// log-probabilities from our engine, which yields perplexity, mean KLD and same-top-token rate.
/// </summary>
internal static class QualityBenchmark
{
    private sealed record Scores(KlDivergenceResult Result, double Seconds);

    private sealed record FileRow(string Type, string Quantizer, GgufBitsPerWeight Size, Scores Ours, Scores Cpp);

    /// <summary>One type's files: (a) llama.cpp's, (b) ours when it differs from (a), (c) ours with the imatrix.</summary>
    private sealed record TypeOutcome(LlamaCppFileType Type, FileRow? Plain, FileRow? OursWhenDifferent, GgufFileComparison? Comparison, string? PlainNote, FileRow Imatrix);

    public static int Run(string[] args)
    {
        string shared = SharedRoot();
        string model = Arg(args, "--model") ?? Path.Combine(shared, "models", "sotu-llama-30m");
        string textPath = Arg(args, "--text") ?? Path.Combine(shared, "data", "sotu", "test-2010-on.txt");
        string calibrationPath = Arg(args, "--calibration") ?? Path.Combine(shared, "data", "sotu", "train-1790-2009.txt");
        int chunks = int.Parse(Arg(args, "--chunks") ?? "8", CultureInfo.InvariantCulture);
        int imatrixChunks = int.Parse(Arg(args, "--imatrix-chunks") ?? "100", CultureInfo.InvariantCulture);
        int ctx = int.Parse(Arg(args, "--ctx") ?? "512", CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var types = (Arg(args, "--types") is { } list ? list.Split(',').Select(LlamaCppFileTypeNames.Parse) : LlamaCppFileTypeNames.All).ToArray();
        string? outPath = Arg(args, "--out");
        string? keep = Arg(args, "--keep");
        bool cppF16Cache = args.Contains("--cpp-f16-cache");
        // --pure: every 2-D weight in the mix's default type for all three files, so that the imatrix cannot change the mix.
        bool pure = args.Contains("--pure");
        if (chunks < 1 || imatrixChunks < 1 || threads < 1) throw new ArgumentException("--chunks, --imatrix-chunks and --threads must be at least 1");

        var total = Stopwatch.StartNew();
        var work = keep is null ? Directory.CreateTempSubdirectory("qs-quality-").FullName : Directory.CreateDirectory(keep).FullName;
        KernelOptions.Threads = threads;
        try
        {
            var timings = new List<(string Phase, double Seconds)>();
            var clock = Stopwatch.StartNew();
            string f32 = Path.Combine(work, "base-f32.gguf"), f16 = Path.Combine(work, "base-f16.gguf");
            using (var hf = LlamaModel.Load(model))
            {
                GgufLlamaExporter.Export(hf, f32, GgmlType.F32);
                GgufLlamaExporter.Export(hf, f16, GgmlType.F16);
            }
            timings.Add(("export F32 and F16 GGUF", Lap(clock)));

            using var baseModel = LlamaModel.Load(f32);
            var tok = baseModel.Tokenizer ?? throw new InvalidDataException($"{model}: no tokenizer");
            var tokData = tok.ToTokenizerData();
            int[] tokens = tok.Encode(File.ReadAllText(textPath), addBos: tokData.AddBos);
            int? bos = tokData.AddBos ? tok.BosId : null;
            int windows = Math.Min(chunks, tokens.Length / ctx);
            Log($"{Path.GetFileName(textPath)}: {tokens.Length} tokens, {tokens.Length / ctx} windows of {ctx}; scoring the first {windows} ({windows * (ctx - 1 - ctx / 2)} predictions)");

            // Base log-probabilities (our engine on the F32 GGUF = the bf16 weights exactly), and a check that the
            // KL evaluator's model perplexity is the llama.cpp-style perplexity of `quantsharp perplexity --style llamacpp`.
            string baseLogits = Path.Combine(work, "base.qslogits");
            var basePpl = SavedLogits.Save(baseLogits, new SessionLogitsProvider(baseModel, ctx), tokens, ctx, bos, windows);
            var direct = new PerplexityEvaluator(new SessionLogitsProvider(baseModel, ctx)).Evaluate(tokens, ctx, PerplexityStyle.LlamaCpp, bos, windows);
            if (Math.Abs(direct.MeanNll - basePpl.MeanNll) > 1e-9 * Math.Abs(direct.MeanNll) || direct.ScoredTokens != basePpl.ScoredTokens)
                throw new InvalidOperationException($"saved base logits give {basePpl}, PerplexityEvaluator {direct}: the windows differ");
            timings.Add(("base logits (our engine, F32) + perplexity check", Lap(clock)));
            Log($"base: {basePpl}");

            using var saved = SavedLogits.Open(baseLogits);
            FileRow Measure(string path, string type, string quantizer)
            {
                var sw = Stopwatch.StartNew();
                KlDivergenceResult ours, cpp;
                using (var m = LlamaModel.Load(path))
                    ours = new KlDivergenceEvaluator(new SessionLogitsProvider(m, ctx)).Evaluate(saved);
                double oursSeconds = Lap(sw);
                using (var cm = LlamaCppModel.Load(path))
                using (var cc = cm.CreateContext(ctx, ctx, threads, f32Cache: !cppF16Cache))
                    cpp = new KlDivergenceEvaluator(new LlamaCppLogitsProvider(cc)).Evaluate(saved);
                double cppSeconds = Lap(sw);
                var row = new FileRow(type, quantizer, GgufBitsPerWeight.Of(path), new Scores(ours, oursSeconds), new Scores(cpp, cppSeconds));
                Log($"{type} {quantizer}: {row.Size.Matrices:F3} bpw, PPL ours {ours.ModelPerplexity.Perplexity:F4} llama.cpp {cpp.ModelPerplexity.Perplexity:F4}; " +
                    $"KLD ours {ours.MeanKld:F5} llama.cpp {cpp.MeanKld:F5} ({oursSeconds:F1} s + {cppSeconds:F1} s)");
                return row;
            }

            var f32Row = Measure(f32, "F32", "base (bf16 exactly)");
            var f16Row = Measure(f16, "F16", "our converter");
            timings.Add(("score F32 and F16 files", Lap(clock)));

            // Our imatrix on the first chunks of the calibration text. Only the first chunks are tokenized (a margin of
            // two chunks at a generous 8 characters per token); the check below proves enough tokens came out.
            string calibration = File.ReadAllText(calibrationPath);
            calibration = calibration[..(int)Math.Min(calibration.Length, (imatrixChunks + 2L) * ctx * 8)];
            var (calibrationTokens, calibrationBos) = ImatrixCalibration.Tokenize(baseModel, calibration);
            var imatrixOptions = new ImatrixOptions { ContextLength = ctx, MaxChunks = imatrixChunks, Datasets = [Path.GetFileName(calibrationPath)] };
            int imatrixChunksDone = ImatrixCalibration.ChunkCount(calibrationTokens.Length, imatrixOptions);
            if (imatrixChunksDone != imatrixChunks && calibration.Length < new FileInfo(calibrationPath).Length)
                throw new InvalidOperationException($"only {imatrixChunksDone} chunks fit in the first {calibration.Length} characters; raise the margin");
            var matrix = ImatrixCalibration.Collect(baseModel, calibrationTokens, calibrationBos, imatrixOptions);
            string imatrixPath = Path.Combine(work, "imatrix.gguf");
            ImatrixFile.Write(matrix, imatrixPath, ImatrixFormat.Gguf);
            var importance = matrix.ToQuantizerImportance();
            double imatrixSeconds = Lap(clock);
            timings.Add(($"imatrix: {imatrixChunksDone} chunks of {ctx} of {Path.GetFileName(calibrationPath)}", imatrixSeconds));
            Log($"imatrix: {matrix.Entries.Count} tensors over {imatrixChunksDone} chunks in {imatrixSeconds:F1} s");

            var outcomes = new List<TypeOutcome>();
            double quantizeTotal = 0;
            foreach (var type in types)
            {
                string name = pure ? $"{type} pure" : type.ToString();
                string cppPath = Path.Combine(work, $"{name.Replace(' ', '-')}-llamacpp.gguf"), oursPath = Path.Combine(work, $"{name.Replace(' ', '-')}-ours.gguf"), imPath = Path.Combine(work, $"{name.Replace(' ', '-')}-ours-imatrix.gguf");
                var q = Stopwatch.StartNew();
                string? cppRefusal = null, oursRefusal = null;
                try { LlamaCppQuantizer.Quantize(f32, cppPath, (LlamaFileType)(int)type, threads, pure); }
                catch (InvalidOperationException e) { cppRefusal = e.Message; }
                try { LlamaCppMixRecipe.Quantize(baseModel, oursPath, type, pure: pure); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException) { oursRefusal = e.Message; }
                LlamaCppMixRecipe.Quantize(baseModel, imPath, type, importance, pure);
                quantizeTotal += Lap(q);

                FileRow? plain = null, oursDifferent = null;
                GgufFileComparison? comparison = null;
                string? note = null;
                if (cppRefusal is null && oursRefusal is null)
                {
                    // Equal tensors (names, types, shapes, bytes) make the two files the same model: it is scored once.
                    comparison = GgufFileComparison.Of(cppPath, oursPath);
                    plain = Measure(cppPath, name, comparison.TensorsIdentical ? "llama.cpp = ours" : "llama.cpp");
                    if (!comparison.TensorsIdentical)
                    {
                        Log($"{name}: our tensors differ from llama.cpp's");
                        oursDifferent = Measure(oursPath, name, "ours");
                        note = "our tensors differ from llama.cpp's";
                    }
                }
                else if (cppRefusal is not null && oursRefusal is not null)
                    note = "both quantizers refuse it without an imatrix";
                else
                    note = $"only one quantizer refused it: llama.cpp {cppRefusal ?? "ok"}; ours {oursRefusal ?? "ok"}";
                outcomes.Add(new TypeOutcome(type, plain, oursDifferent, comparison, note, Measure(imPath, name, "ours + imatrix")));
                if (keep is null)
                    foreach (var p in new[] { cppPath, oursPath, imPath }) File.Delete(p);
            }
            timings.Add(("quantize (llama.cpp + ours + ours with imatrix), all types", quantizeTotal));
            timings.Add(("score quantized files (both engines)", Lap(clock) - quantizeTotal));

            string header = $"quality run: model `{Path.GetFileName(Path.TrimEndingDirectorySeparator(model))}`, evaluation `{Path.GetFileName(textPath)}` " +
                $"first {windows} of {tokens.Length / ctx} llama.cpp-style windows of {ctx} tokens ({basePpl.ScoredTokens} scored predictions), " +
                $"imatrix {imatrixChunksDone} × {ctx} tokens of `{Path.GetFileName(calibrationPath)}`; llama.cpp {LlamaCppLibrary.Build} with {(cppF16Cache ? "F16" : "F32")} KV cache; " +
                $"{(pure ? "--pure (one block type for every 2-D weight); " : "")}{threads} threads, ISA {KernelOptions.EffectiveIsa}; total {total.Elapsed.TotalMinutes:F1} min";
            string markdown = Render(header, basePpl, f32Row, f16Row, outcomes, timings);
            Console.WriteLine(markdown);
            if (outPath != null)
            {
                string full = Path.GetFullPath(outPath), tmp = full + ".tmp-" + Environment.ProcessId;
                File.WriteAllText(tmp, markdown);
                File.Move(tmp, full, overwrite: true);
                Log($"wrote {full}");
            }
            return outcomes.Any(o => o.Comparison is { TensorsIdentical: false }) ? 1 : 0;
        }
        finally
        {
            KernelOptions.Threads = 0;
            if (keep is null) Directory.Delete(work, recursive: true);
        }
    }

    private static string Render(string header, PerplexityResult basePpl, FileRow f32, FileRow f16, List<TypeOutcome> outcomes, List<(string Phase, double Seconds)> timings)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"<!-- {header} -->").AppendLine();
        sb.AppendLine($"Base: F32 GGUF of the bf16 weights, our engine: PPL {basePpl.Perplexity:F4} ± {basePpl.StandardError:F4}.").AppendLine();
        sb.AppendLine("| type | quantizer | bpw 2-D | bpw file | size MiB | PPL ours | PPL llama.cpp | KLD ours | KLD llama.cpp | same top ours % | same top llama.cpp % |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        void Row(FileRow r) => sb.AppendLine(
            $"| {r.Type} | {r.Quantizer} | {r.Size.Matrices:F3} | {r.Size.File:F3} | {r.Size.FileBytes / 1048576.0:F2} | " +
            $"{r.Ours.Result.ModelPerplexity.Perplexity:F3} | {r.Cpp.Result.ModelPerplexity.Perplexity:F3} | " +
            $"{r.Ours.Result.MeanKld:F5} | {r.Cpp.Result.MeanKld:F5} | {100 * r.Ours.Result.SameTopTokenRate:F2} | {100 * r.Cpp.Result.SameTopTokenRate:F2} |");
        Row(f32);
        Row(f16);
        foreach (var o in outcomes)
        {
            if (o.Plain is { } p) Row(p);
            if (o.OursWhenDifferent is { } d) Row(d);
            if (o.Plain is null) sb.AppendLine($"| {o.Type} | llama.cpp, ours without imatrix | — | — | — | — | — | — | — | — | — |");
            Row(o.Imatrix);
        }
        sb.AppendLine();
        sb.AppendLine("Importance matrix gain (our engine; Δ = with imatrix − without, relative):").AppendLine();
        sb.AppendLine("| type | KLD without | KLD with | Δ KLD % | PPL without | PPL with | Δ PPL % | same top without % | same top with % |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var o in outcomes)
        {
            var w = o.Imatrix.Ours.Result;
            if (o.Plain is not { } p)
            {
                sb.AppendLine($"| {o.Type} | — | {w.MeanKld:F5} | — | — | {w.ModelPerplexity.Perplexity:F3} | — | — | {100 * w.SameTopTokenRate:F2} |");
                continue;
            }
            var n = p.Ours.Result;
            sb.AppendLine($"| {o.Type} | {n.MeanKld:F5} | {w.MeanKld:F5} | {Signed(100 * (w.MeanKld / n.MeanKld - 1), 1)} | {n.ModelPerplexity.Perplexity:F3} | {w.ModelPerplexity.Perplexity:F3} | " +
                $"{Signed(100 * (w.ModelPerplexity.Perplexity / n.ModelPerplexity.Perplexity - 1), 2)} | {100 * n.SameTopTokenRate:F2} | {100 * w.SameTopTokenRate:F2} |");
        }
        sb.AppendLine();
        var all = new List<FileRow> { f32, f16 };
        foreach (var o in outcomes)
        {
            if (o.Plain != null) all.Add(o.Plain);
            if (o.OursWhenDifferent != null) all.Add(o.OursWhenDifferent);
            all.Add(o.Imatrix);
        }
        var pplRel = all.Select(r => r.Ours.Result.ModelPerplexity.Perplexity / r.Cpp.Result.ModelPerplexity.Perplexity - 1).ToArray();
        var worst = all.MaxBy(r => Math.Abs(r.Ours.Result.ModelPerplexity.Perplexity / r.Cpp.Result.ModelPerplexity.Perplexity - 1))!;
        sb.AppendLine($"Engine agreement: PPL ours / llama.cpp − 1 over all {all.Count} files: mean {Signed(100 * pplRel.Average(), 3)} %, " +
            $"largest {Signed(100 * pplRel.MaxBy(Math.Abs), 3)} % ({worst.Type}, {worst.Quantizer}); llama.cpp's KLD of the F32 base itself " +
            $"(engine difference alone) {f32.Cpp.Result.MeanKld:F6}, same top token {100 * f32.Cpp.Result.SameTopTokenRate:F2} %.");
        var compared = outcomes.Where(o => o.Comparison != null).ToList();
        sb.AppendLine($"Our quantizer without imatrix vs llama_model_quantize: {compared.Count(o => o.Comparison!.TensorsIdentical)} of {compared.Count} types with identical tensors " +
            $"(names, types, shapes, data bytes), {compared.Count(o => o.Comparison!.FileIdentical)} byte-identical files, {compared.Count(o => o.Comparison!.TensorOrderSame)} with the same tensor order, " +
            $"{compared.Count(o => o.Comparison!.MetadataOrderSame)} with the same metadata key order" +
            string.Concat(outcomes.Where(o => o.PlainNote != null).Select(o => $"; {o.Type}: {o.PlainNote}")) + ".");
        var metadata = compared.SelectMany(o => o.Comparison!.MetadataDifferences).Distinct().ToList();
        if (metadata.Count > 0) sb.AppendLine($"Metadata that differs: {string.Join("; ", metadata)}.");
        sb.AppendLine();
        sb.AppendLine("| phase | seconds |");
        sb.AppendLine("|---|---|");
        foreach (var (phase, seconds) in timings) sb.AppendLine($"| {phase} | {seconds:F1} |");
        return sb.ToString();
    }

    private static string Signed(double value, int decimals)
    {
        string magnitude = Math.Abs(value).ToString("F" + decimals, CultureInfo.InvariantCulture);
        return (value < 0 && magnitude.Any(c => c is >= '1' and <= '9') ? "−" : "+") + magnitude;
    }

    private static double Lap(Stopwatch sw)
    {
        double s = sw.Elapsed.TotalSeconds;
        sw.Restart();
        return s;
    }

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
