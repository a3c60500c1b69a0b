// Prefill and decode tokens/s of our engine vs llama.cpp on the same GGUF files, side by side in one run.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// For each GGUF and thread count: prompt processing of <c>--prompt</c> tokens (logits of the last
/// token only, as llama-bench's pp test) and generation of <c>--gen</c> tokens one at a time (tg).
/// Runs alternate between the two engines so that machine noise hits both alike; medians of
/// <c>--runs</c> runs are reported with their ratio. <c>--kv f16</c> (the default) runs both engines with an
/// F16 KV cache, llama.cpp with its default settings (flash attention auto); <c>--kv f32</c> runs both with
/// F32 caches (llama.cpp with flash attention off, which would round them to F16).
/// </summary>
internal static class EndToEndBenchmark
{
    public static int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? FindSotu();
        int[] threads = (Arg(args, "--threads") ?? "1,2").Split(',').Select(int.Parse).ToArray();
        int runs = int.Parse(Arg(args, "--runs") ?? "5");
        int promptLength = int.Parse(Arg(args, "--prompt") ?? "512");
        int gen = int.Parse(Arg(args, "--gen") ?? "128");
        string[] types = (Arg(args, "--types") ?? "f32,f16").Split(',');
        // Every type is checked before any file is written or measured.
        foreach (var t in types)
            if (QuantizedFileType(t) is null && !FloatTypes.Contains(t))
                throw new ArgumentException($"--types: unknown type {t}; expected f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k_s, q3_k_m, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_nl or iq4_xs");
        var kv = (Arg(args, "--kv") ?? "f16") switch
        {
            "f16" => KvCacheType.F16,
            "f32" => KvCacheType.F32,
            var other => throw new ArgumentException($"--kv {other}: expected f16 or f32"),
        };

        // --files DIR keeps the converted GGUFs there and reuses them on later runs.
        string? keep = Arg(args, "--files");
        var temp = keep is null ? Directory.CreateTempSubdirectory("qs-bench-") : Directory.CreateDirectory(keep);
        try
        {
            var files = new List<(string Label, string Path)>();
            if (model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) files.Add((Path.GetFileName(model), model));
            else
            {
                using var source = LlamaModel.Load(model);
                string? f32 = null;
                foreach (var t in types)
                {
                    string path = Path.Combine(temp.FullName, $"model-{t}.gguf");
                    if (keep is not null && File.Exists(path)) { files.Add((t.ToUpperInvariant(), path)); continue; }
                    if (QuantizedFileType(t) is LlamaFileType ftype)
                    {
                        // Block-quantized files come from llama.cpp's own quantizer (its default mixes, e.g. Q4_K_M).
                        if (f32 is null) GgufLlamaExporter.Export(source, f32 = Path.Combine(temp.FullName, "model-source-f32.gguf"), GgmlType.F32);
                        LlamaCppQuantizer.Quantize(f32, path, ftype);
                    }
                    else
                    {
                        var type = t switch { "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, _ => throw new ArgumentException($"unknown type {t}") };
                        GgufLlamaExporter.Export(source, path, type);
                    }
                    files.Add((t.ToUpperInvariant(), path));
                }
            }

            Console.WriteLine($"# End-to-end: {Path.GetFileName(Path.TrimEndingDirectorySeparator(model))}, prompt {promptLength}, generate {gen}, median of {runs} runs, llama.cpp {LlamaCppLibrary.Build}");
            Console.WriteLine($"# {Environment.ProcessorCount} cores, ISA {KernelOptions.EffectiveIsa}, KV cache {kv} in both engines");
            using var meter = new MemoryBandwidth();
            var bandwidth = threads.Distinct().ToDictionary(t => t, t => meter.Measure(t));
            Console.WriteLine($"# read bandwidth (512 MiB stream, best of 5): {string.Join(", ", bandwidth.Select(kv => $"{kv.Key} thread(s) {kv.Value:F1} GB/s"))}");
            Console.WriteLine("# decode bound = bandwidth ÷ weight bytes read per token (all matmul weights + one embedding row); weights that fit in cache can beat it.");
            Console.WriteLine("# The stream is measured again (best of 2) right before each engine's timed run; \"% of stream\" is the median over runs of");
            Console.WriteLine("# MB/token × decode t/s ÷ that run's own stream figure, and \"stream\" the median of those figures.");
            Console.WriteLine();
            Console.WriteLine("| weights | threads | prefill ours t/s | prefill llama.cpp t/s | ratio | decode ours t/s | decode llama.cpp t/s | ratio | MB/token | stream GB/s | decode bound t/s | ours % of stream | llama.cpp % of stream |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var (label, path) in files)
            {
                using var ours = LlamaModel.Load(path);
                using var cpp = LlamaCppModel.Load(path);
                int[] prompt = MakePrompt(ours, promptLength);
                foreach (int t in threads)
                {
                    KernelOptions.Threads = t;
                    var session = new InferenceSession(ours, promptLength + gen + 1, maxBatch: promptLength, kv);
                    using var ctx = cpp.CreateContext(promptLength + gen + 1, promptLength, t, f32Cache: kv == KvCacheType.F32);
                    var oursPp = new List<double>(); var cppPp = new List<double>();
                    var oursTg = new List<double>(); var cppTg = new List<double>();
                    var streams = new List<double>(); var oursShare = new List<double>(); var cppShare = new List<double>();
                    double mb = WeightBytesPerToken(ours) / 1e6;
                    for (int r = -1; r < runs; r++) // run -1 warms up JIT and caches
                    {
                        double bwOurs = r < 0 ? 0 : meter.Measure(t, passes: 2);
                        var (pp, tg) = TimeOurs(ours, session, prompt, gen);
                        double bwCpp = r < 0 ? 0 : meter.Measure(t, passes: 2);
                        var (cpp1, cpp2) = TimeLlamaCpp(ctx, prompt, gen);
                        if (r < 0) continue;
                        oursPp.Add(pp); oursTg.Add(tg); cppPp.Add(cpp1); cppTg.Add(cpp2);
                        streams.Add(bwOurs); streams.Add(bwCpp);
                        oursShare.Add(mb * tg / (bwOurs * 1e3)); cppShare.Add(mb * cpp2 / (bwCpp * 1e3));
                    }
                    double a = Median(oursPp), b = Median(cppPp), c = Median(oursTg), d = Median(cppTg), bw = Median(streams);
                    Console.WriteLine($"| {label} | {t} | {a:F0} | {b:F0} | {a / b:F2} | {c:F1} | {d:F1} | {c / d:F2} | {mb:F1} | {bw:F1} | {bw * 1e3 / mb:F0} | {100 * Median(oursShare):F0} % | {100 * Median(cppShare):F0} % |");
                }
            }
            return 0;
        }
        finally
        {
            KernelOptions.Threads = 0;
            if (keep is null) temp.Delete(recursive: true);
            else File.Delete(Path.Combine(temp.FullName, "model-source-f32.gguf"));
        }
    }

    /// <summary>llama-quantize targets the bench can build (llama.cpp's default mixes), or null for float types.</summary>
    private static LlamaFileType? QuantizedFileType(string type) => type switch
    {
        "q4_0" => LlamaFileType.MostlyQ4_0,
        "q4_1" => LlamaFileType.MostlyQ4_1,
        "q5_0" => LlamaFileType.MostlyQ5_0,
        "q5_1" => LlamaFileType.MostlyQ5_1,
        "q8_0" => LlamaFileType.MostlyQ8_0,
        "q2_k" => LlamaFileType.MostlyQ2_K,
        "q3_k_m" => LlamaFileType.MostlyQ3_K_M,
        "q4_k_m" => LlamaFileType.MostlyQ4_K_M,
        "q5_k_m" => LlamaFileType.MostlyQ5_K_M,
        "q6_k" => LlamaFileType.MostlyQ6_K,
        "q3_k_s" => LlamaFileType.MostlyQ3_K_S,
        "q4_k_s" => LlamaFileType.MostlyQ4_K_S,
        "q5_k_s" => LlamaFileType.MostlyQ5_K_S,
        "iq4_nl" => LlamaFileType.MostlyIQ4_NL,
        "iq4_xs" => LlamaFileType.MostlyIQ4_XS,
        _ => null,
    };

    private static readonly string[] FloatTypes = ["f32", "f16", "bf16"];

    /// <summary>
    /// Bytes of weights one decode step reads: every matmul weight once, plus one embedding row; of a mixture of
    /// experts the router and the routed experts only (experts-per-token of them).
    /// </summary>
    private static long WeightBytesPerToken(LlamaModel model)
    {
        long total = model.Output.ByteLength + model.TokenEmbedding.RowByteLength;
        foreach (var l in model.Layers)
        {
            total += l.Wq.ByteLength + l.Wk.ByteLength + l.Wv.ByteLength + l.Wo.ByteLength;
            if (l.Experts is { } ex)
                total += ex.Router.ByteLength + model.Parameters.ExpertsPerToken * (ex.Gate[0].ByteLength + ex.Up[0].ByteLength + ex.Down[0].ByteLength);
            else
                total += l.WGate.ByteLength + l.WUp.ByteLength + l.WDown.ByteLength;
        }
        return total;
    }

    private static (double Prefill, double Decode) TimeOurs(LlamaModel model, InferenceSession session, int[] prompt, int gen)
    {
        var logits = new float[model.Parameters.VocabSize];
        var one = new int[1];
        session.Reset();
        var sw = Stopwatch.StartNew();
        session.Forward(prompt, logits, allLogits: false);
        double pp = prompt.Length / sw.Elapsed.TotalSeconds;
        sw.Restart();
        for (int i = 0; i < gen; i++)
        {
            one[0] = TokenSampler.ArgMax(logits);
            session.Forward(one, logits, allLogits: false);
        }
        return (pp, gen / sw.Elapsed.TotalSeconds);
    }

    private static (double Prefill, double Decode) TimeLlamaCpp(LlamaCppContext ctx, int[] prompt, int gen)
    {
        var sw = Stopwatch.StartNew();
        var logits = ctx.Prefill(prompt);
        double pp = prompt.Length / sw.Elapsed.TotalSeconds;
        sw.Restart();
        for (int i = 0; i < gen; i++) logits = ctx.DecodeNext(TokenSampler.ArgMax(logits));
        return (pp, gen / sw.Elapsed.TotalSeconds);
    }

    private static int[] MakePrompt(LlamaModel model, int length)
    {
        // Real text, so attention and activations look like a real run.
        string text = File.ReadAllText(Path.Combine(SharedRoot(), "data", "sotu", "test-2010-on.txt"));
        var tokens = model.Tokenizer!.Encode(text[..Math.Min(text.Length, 20 * length)]);
        if (tokens.Length < length) throw new InvalidOperationException("not enough text for the prompt");
        return tokens[..length];
    }

    private static string FindSotu() => Path.Combine(SharedRoot(), "models", "sotu-llama-30m");
}
