// `qgemm`: multi-row (prefill) products on block-quantized weights, int8 GEMM vs the fp32 dequantizing GEMM.
using System.Diagnostics;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Bench.Kernels;

/// <summary>
/// `qgemm [--types Q4_0] [--shapes NxK,...] [--m 8,16,32,64,128,512] [--threads 1] [--isa X] [--rounds 7]`:
/// weights quantized by ggml from random values; for each shape and M, MatMul.Multiply with
/// <see cref="KernelOptions.Int8Gemm"/> off (the previous routing: row-quad dots below 32 rows, fp32
/// GEMM over dequantized tiles from 32 on) and on, timed in interleaved rounds. One thread: the
/// calling thread's CPU time; more: wall time. Medians printed, with GMAC/s (M·N·K per second).
/// Default shapes: sotu-llama-30m's (512×512, 1536×512, 512×1536) and Llama-3.2-1B's (2048×2048,
/// 8192×2048, 2048×8192).
/// </summary>
public static unsafe class QuantGemmRunner
{
    public static int Run(string[] args)
    {
        DType[] types = [DType.Q4_0];
        (int N, int K)[] shapes = [(512, 512), (1536, 512), (512, 1536), (2048, 2048), (8192, 2048), (2048, 8192)];
        int[] ms = [8, 16, 32, 64, 128, 512];
        int rounds = 7, threads = 1;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--types": types = args[++i].Split(',').Select(t => Enum.Parse<DType>(t, ignoreCase: true)).ToArray(); break;
                case "--shapes": shapes = args[++i].Split(',').Select(s => s.Split('x')).Select(p => (int.Parse(p[0]), int.Parse(p[1]))).ToArray(); break;
                case "--m": ms = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--isa": KernelOptions.Isa = Enum.Parse<KernelIsa>(args[++i], ignoreCase: true); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        KernelOptions.Threads = threads;
        Func<double> clock = threads == 1 ? QuantGemvRunner.ThreadCpuSeconds : () => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        Console.WriteLine($"# qgemm: {threads} thread(s) ({(threads == 1 ? "thread CPU time" : "wall time")}), ISA {KernelOptions.EffectiveIsa}, median of {rounds} interleaved rounds");
        // "from copy": the same product on the weight's quad-interleaved copy, as a loaded model runs it (blocks read back with QuadInterleave.Gather).
        Console.WriteLine($"{"type",-6} {"N×K",-11} {"M",5} {"previous",10} {"int8 GEMM",10} {"from copy",10} {"prev GMAC/s",11} {"int8 GMAC/s",11} {"speed-up",8}");
        foreach (var type in types)
        {
            int ggmlType = (int)Enum.Parse<GgmlType>(type.ToString());
            foreach (var (n, k) in shapes)
            {
                var rng = new Random(1);
                var values = new float[(long)n * k];
                for (long i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
                byte[] packed = GgmlQuantOracle.Quantize(ggmlType, values, n, k);
                byte* w = (byte*)NativeMemory.AlignedAlloc((nuint)packed.Length, 64);
                try
                {
                    packed.CopyTo(new Span<byte>(w, packed.Length));
                    var view = new TensorView("w", type, [n, k], w, packed.Length);
                    var copy = view.WithInterleavedCopy();
                    foreach (int m in ms)
                    {
                        float[] x = BenchWeights.Activations(m, k);
                        var y = new float[(long)m * n];
                        Action previous = () => { KernelOptions.Int8Gemm = false; MatMul.Multiply(x, m, view, y); KernelOptions.Int8Gemm = true; };
                        Action int8 = () => MatMul.Multiply(x, m, view, y);
                        Action fromCopy = () => MatMul.Multiply(x, m, copy, y);
                        double[] t = QuantGemvRunner.Interleaved([previous, int8, fromCopy], rounds, clock);
                        double macs = (double)m * n * k / 1e9;
                        Console.WriteLine($"{type,-6} {$"{n}x{k}",-11} {m,5} {QuantGemvRunner.Format(t[0]),10} {QuantGemvRunner.Format(t[1]),10} {QuantGemvRunner.Format(t[2]),10} {macs / t[0],11:F1} {macs / t[1],11:F1} {t[0] / t[1],7:F2}x");
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(w);
                }
            }
        }
        KernelOptions.Threads = 0;
        return 0;
    }
}
