// `attention`: the prefill attention kernel (AttentionOps.CausalBlock) alone, over a whole prompt's blocks of one KV head.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Bench.Kernels;

/// <summary>
/// `attention [--prompt 512] [--head-dim 64] [--queries 2] [--block 8] [--kv f16|f32] [--window W] [--isa X] [--rounds 31]`:
/// one thread runs every causal block of a prompt for one KV head and its query pair, as a prefill's
/// attention jobs do (random queries, keys and values), and prints the median time of a sweep and its
/// GFLOP/s (score and weighted-sum multiply-adds only). The clock is the calling thread's CPU time, so
/// a busy machine slows the figure less than wall time would; compare builds by alternating runs.
/// </summary>
public static class AttentionRunner
{
    public static int Run(string[] args)
    {
        int prompt = 512, hd = 64, queries = 2, block = 8, rounds = 31, window = int.MaxValue;
        bool fp16 = true;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--prompt": prompt = int.Parse(args[++i]); break;
                case "--head-dim": hd = int.Parse(args[++i]); break;
                case "--queries": queries = int.Parse(args[++i]); break;
                case "--block": block = int.Parse(args[++i]); break;
                case "--window": window = int.Parse(args[++i]); break;
                case "--kv": fp16 = args[++i].ToLowerInvariant() switch { "f16" => true, "f32" => false, var v => throw new ArgumentException($"--kv {v}: expected f16 or f32") }; break;
                case "--isa": KernelOptions.Isa = Enum.Parse<KernelIsa>(args[++i], ignoreCase: true); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        KernelOptions.Threads = 1;
        var rng = new Random(1);
        int qStride = queries * hd;
        var q = new float[prompt * qStride];
        var k32 = new float[prompt * hd];
        var v32 = new float[prompt * hd];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < k32.Length; i++) { k32[i] = (float)(rng.NextDouble() * 2 - 1); v32[i] = (float)(rng.NextDouble() * 2 - 1); }
        var k16 = k32.Select(x => (Half)x).ToArray();
        var v16 = v32.Select(x => (Half)x).ToArray();
        var output = new float[prompt * qStride];
        var scratch = new float[AttentionOps.CausalBlockScratch(prompt + block, block, queries, hd)];
        float scale = 1 / MathF.Sqrt(hd);
        void Sweep()
        {
            for (int t0 = 0; t0 < prompt; t0 += block)
            {
                int tokens = Math.Min(block, prompt - t0), end = t0 + 1;
                int first = window == int.MaxValue ? 0 : Math.Max(0, end - window);
                int visible = end - first, rows = visible + tokens - 1;
                var qs = new ReadOnlySpan<float>(q, t0 * qStride, (tokens - 1) * qStride + queries * hd);
                var os = new Span<float>(output, t0 * qStride, (tokens - 1) * qStride + queries * hd);
                if (fp16)
                    AttentionOps.CausalBlock(qs, qStride, tokens, queries, hd, new ReadOnlySpan<Half>(k16, first * hd, rows * hd),
                        new ReadOnlySpan<Half>(v16, first * hd, rows * hd), hd, visible, window, scale, os, qStride, scratch);
                else
                    AttentionOps.CausalBlock(qs, qStride, tokens, queries, hd, new ReadOnlySpan<float>(k32, first * hd, rows * hd),
                        new ReadOnlySpan<float>(v32, first * hd, rows * hd), hd, visible, window, scale, os, qStride, scratch);
            }
        }
        double macs = 0;
        for (int t = 0; t < prompt; t++) macs += 2.0 * queries * hd * Math.Min(t + 1, window);
        // Warm up for a second of CPU time: the softmax's TensorPrimitives code starts in the JIT's lower tiers, and a
        // few sweeps would time those instead of the tier-1 code a long prefill runs.
        for (double w0 = QuantGemvRunner.ThreadCpuSeconds(); QuantGemvRunner.ThreadCpuSeconds() - w0 < 1.0;) Sweep();
        var times = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            double t0 = QuantGemvRunner.ThreadCpuSeconds();
            int reps = 0;
            do { Sweep(); reps++; } while (QuantGemvRunner.ThreadCpuSeconds() - t0 < 0.02);
            times.Add((QuantGemvRunner.ThreadCpuSeconds() - t0) / reps);
        }
        Console.WriteLine($"attention: prompt {prompt}, head {hd}, {queries} queries per KV head, block {block}, kv {(fp16 ? "f16" : "f32")}, window {(window == int.MaxValue ? "none" : window)}, ISA {KernelOptions.EffectiveIsa}, 1 thread (thread CPU time)");
        double med = BenchCommandLine.Median(times);
        Console.WriteLine($"median of {rounds} rounds {med * 1e6:F1} us/sweep, {2 * macs / med / 1e9:F1} GFLOP/s (min {times.Min() * 1e6:F1}, max {times.Max() * 1e6:F1} us)");
        return 0;
    }
}
