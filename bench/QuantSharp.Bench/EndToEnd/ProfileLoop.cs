// Runs only our engine's prefill or decode in a loop, for attaching a profiler (perf) to one phase.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// <c>profile --model FILE.gguf --phase decode|prefill [--threads 1] [--seconds 20] [--prompt 512] [--context 64] [--kv f32|f16]</c>:
/// repeats one phase for the given time and prints tokens/s, so that a sampling profiler sees that
/// phase alone (set DOTNET_PerfMapEnabled=1 for JIT symbols).
/// </summary>
internal static class ProfileLoop
{
    public static int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? throw new ArgumentException("--model FILE.gguf is required");
        string phase = Arg(args, "--phase") ?? "decode";
        KernelOptions.Threads = int.Parse(Arg(args, "--threads") ?? "1");
        double seconds = double.Parse(Arg(args, "--seconds") ?? "20");
        int promptLength = int.Parse(Arg(args, "--prompt") ?? "512");
        // Decode starts after this many prompt tokens (e2e decodes after 512; attention grows with it).
        int context = int.Parse(Arg(args, "--context") ?? "64");
        if (context > promptLength) promptLength = context;
        using var m = LlamaModel.Load(model);
        var kv = Arg(args, "--kv") == "f16" ? KvCacheType.F16 : KvCacheType.F32;
        var session = new InferenceSession(m, promptLength + 129, maxBatch: promptLength, kv);
        var logits = new float[m.Parameters.VocabSize];
        var prompt = Enumerable.Range(0, promptLength).Select(i => (i * 7919) % m.Parameters.VocabSize).ToArray();
        // Process CPU time beside wall time: on a shared machine tokens per CPU-second moves less with the load.
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        long tokens = 0;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            session.Reset();
            if (phase == "prefill")
            {
                session.Forward(prompt, logits, allLogits: false);
                tokens += promptLength;
            }
            else
            {
                session.Forward(prompt.AsSpan(0, context), logits, allLogits: false);
                for (int i = 0; i < 128; i++) session.Forward([TokenSampler.ArgMax(logits)], logits, allLogits: false);
                tokens += 128;
            }
        }
        double wall = sw.Elapsed.TotalSeconds;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        Console.WriteLine($"{phase}: {tokens / wall:F1} tokens/s, {tokens / cpu:F1} tokens per CPU-second (decode figures include a {context}-token prefill per 128 tokens)");
        return 0;
    }
}
