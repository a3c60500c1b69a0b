// Wall time of a whole-model quantization, ours vs llama_model_quantize, on the same GGUF input, side by side.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.Quantization;

/// <summary>
/// For each named mix: the time from an F32 GGUF on disk to the quantized GGUF on disk, for our
/// recipe (load, plan, quantize, write) and for llama.cpp's llama_model_quantize (the library behind
/// llama-quantize), with the same thread count. Runs alternate between the engines so that machine
/// noise hits both alike; medians of <c>--runs</c> runs and their ratio are printed.
/// </summary>
internal static class QuantizeTimeBenchmark
{
    public static int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? Path.Combine(SharedRoot(), "models", "sotu-llama-30m");
        int runs = int.Parse(Arg(args, "--runs") ?? "3");
        int threads = int.Parse(Arg(args, "--threads") ?? Environment.ProcessorCount.ToString());
        var types = (Arg(args, "--types") ?? "Q4_0,Q8_0,Q2_K,Q3_K_M,Q4_K_S,Q4_K_M,Q5_K_M,Q6_K,IQ4_NL,IQ4_XS").Split(',').Select(LlamaCppFileTypeNames.Parse).ToArray();

        var temp = Directory.CreateTempSubdirectory("qs-qbench-");
        try
        {
            string input = model;
            if (!model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            {
                input = Path.Combine(temp.FullName, "input-f32.gguf");
                using var source = LlamaModel.Load(model);
                GgufLlamaExporter.Export(source, input, GgmlType.F32);
            }
            KernelOptions.Threads = threads;
            Console.WriteLine($"# Quantize time: {Path.GetFileName(Path.TrimEndingDirectorySeparator(model))} (F32 GGUF in, GGUF out), {threads} threads, median of {runs} runs, llama.cpp {LlamaCppLibrary.Build}");
            Console.WriteLine();
            Console.WriteLine("| type | ours s | llama.cpp s | ours / llama.cpp |");
            Console.WriteLine("|---|---|---|---|");
            string ours = Path.Combine(temp.FullName, "ours.gguf"), theirs = Path.Combine(temp.FullName, "cpp.gguf");
            foreach (var type in types)
            {
                var a = new List<double>(); var b = new List<double>();
                for (int r = -1; r < runs; r++) // run -1 warms up JIT and the page cache
                {
                    var sw = Stopwatch.StartNew();
                    using (var m = LlamaModel.Load(input)) LlamaCppMixRecipe.Quantize(m, ours, type);
                    double t1 = sw.Elapsed.TotalSeconds;
                    sw.Restart();
                    LlamaCppQuantizer.Quantize(input, theirs, (LlamaFileType)(int)type, threads);
                    double t2 = sw.Elapsed.TotalSeconds;
                    File.Delete(ours); File.Delete(theirs);
                    if (r < 0) continue;
                    a.Add(t1); b.Add(t2);
                }
                double x = Median(a), y = Median(b);
                Console.WriteLine($"| {type} | {x:F2} | {y:F2} | {x / y:F2} |");
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
