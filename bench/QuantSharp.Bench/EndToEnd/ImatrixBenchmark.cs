// Importance-matrix collection time: our forward pass with its observer vs llama.cpp's decode with llama-imatrix's eval callback.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// Collects over <c>--chunks</c> chunks of <c>--ctx</c> tokens of the sotu training text, on the
/// same GGUF (F32 by default) for both engines: ours (<see cref="ImatrixCalibration"/>), llama.cpp
/// decoding every chunk with llama-imatrix's eval callback (its default F16 KV cache and flash
/// attention), and llama.cpp decoding the same chunks without a callback (what the callback costs).
/// Runs alternate so noise hits all alike; medians of <c>--runs</c> runs.
/// </summary>
internal static class ImatrixBenchmark
{
    public static int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? Path.Combine(SharedRoot(), "models", "sotu-llama-30m");
        int[] threads = (Arg(args, "--threads") ?? "1,2").Split(',').Select(int.Parse).ToArray();
        int runs = int.Parse(Arg(args, "--runs") ?? "3");
        int chunks = int.Parse(Arg(args, "--chunks") ?? "10");
        int nCtx = int.Parse(Arg(args, "--ctx") ?? "512");
        string type = Arg(args, "--type") ?? "f32";
        var temp = Directory.CreateTempSubdirectory("qs-bench-imatrix-");
        try
        {
            string gguf = model;
            if (!model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            {
                gguf = Path.Combine(temp.FullName, $"model-{type}.gguf");
                using var source = LlamaModel.Load(model);
                GgufLlamaExporter.Export(source, gguf, type == "f16" ? GgmlType.F16 : GgmlType.F32);
            }
            string text = File.ReadAllText(Path.Combine(SharedRoot(), "data", "sotu", "train-1790-2009.txt"));
            text = text[..Math.Min(text.Length, (chunks + 2) * nCtx * 6)];
            using var ours = LlamaModel.Load(gguf);
            using var cpp = LlamaCppModel.Load(gguf);
            var (tokens, bos) = ImatrixCalibration.Tokenize(ours, text);
            var options = new ImatrixOptions { ContextLength = nCtx, MaxChunks = chunks };
            long total = (long)chunks * nCtx;

            Console.WriteLine($"# imatrix collection: {Path.GetFileName(gguf)} ({type}), {chunks} chunks of {nCtx} = {total} tokens, median of {runs} runs, llama.cpp {LlamaCppLibrary.Build}");
            Console.WriteLine($"# {Environment.ProcessorCount} cores, ISA {KernelOptions.EffectiveIsa}");
            Console.WriteLine();
            Console.WriteLine("| threads | ours s | llama.cpp with imatrix callback s | ratio | llama.cpp decode alone s | ours t/s | llama.cpp+callback t/s |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (int t in threads)
            {
                KernelOptions.Threads = t;
                using var plain = cpp.CreateContext(nCtx, nCtx, t);
                var a = new List<double>(); var b = new List<double>(); var c = new List<double>();
                for (int r = -1; r < runs; r++) // run -1 warms up
                {
                    var sw = Stopwatch.StartNew();
                    ImatrixCalibration.Collect(ours, tokens, bos, options);
                    double oursS = sw.Elapsed.TotalSeconds;
                    double cb = LlamaCppImatrix.Collect(cpp, tokens, nCtx, chunks, processOutput: false, t).Seconds;
                    sw.Restart();
                    for (int k = 0; k < chunks; k++) plain.Evaluate(tokens.AsSpan(k * nCtx, nCtx));
                    double alone = sw.Elapsed.TotalSeconds;
                    if (r < 0) continue;
                    a.Add(oursS); b.Add(cb); c.Add(alone);
                }
                double ma = Median(a), mb = Median(b), mc = Median(c);
                Console.WriteLine($"| {t} | {ma:F2} | {mb:F2} | {mb / ma:F2} | {mc:F2} | {total / ma:F0} | {total / mb:F0} |");
            }
            return 0;
        }
        finally
        {
            KernelOptions.Threads = 0;
            temp.Delete(recursive: true);
        }
    }
}
