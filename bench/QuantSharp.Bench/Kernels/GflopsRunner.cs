// Quick self-timed throughput table (no BenchmarkDotNet): GFLOP/s for GEMM, GB/s of weights for GEMV.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Bench.Kernels;

/// <summary>
/// `gflops [--isa Avx512|Avx2|Vector128|Scalar] [--threads 1,2] [--m 512] [--only gemm|gemv] [--dtype F16]`: for each shape, dtype
/// and thread count, times batches of calls lasting about 40 ms and prints the median of 5.
/// </summary>
public static class GflopsRunner
{
    public static int Run(string[] args)
    {
        var threadCounts = new List<int> { 1, 2 };
        int prefill = KernelShapes.PrefillRows;
        string? only = null;
        DType[] dtypes = [DType.F32, DType.F16, DType.BF16];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--isa": KernelOptions.Isa = Enum.Parse<KernelIsa>(args[++i], ignoreCase: true); break;
                case "--threads": threadCounts = args[++i].Split(',').Select(int.Parse).ToList(); break;
                case "--m": prefill = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--dtype": dtypes = [Enum.Parse<DType>(args[++i], ignoreCase: true)]; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        Console.WriteLine($"ISA {KernelOptions.EffectiveIsa}, {Environment.ProcessorCount} logical CPUs, median of 5");
        Console.WriteLine($"{"kind",-5} {"M",4} {"K",5} {"N",5} {"dtype",-5} {"thr",3} {"time",10} {"GFLOP/s",8} {"W GB/s",7}");
        int[] rowCounts = only switch { "gemm" => [prefill], "gemv" => [1], _ => [prefill, 1] };
        foreach (int m in rowCounts)
            foreach (var (k, n) in KernelShapes.Linear)
                foreach (var dtype in dtypes)
                {
                    using var w = new BenchWeights(dtype, n, k);
                    float[] a = BenchWeights.Activations(m, k);
                    var c = new float[m * n];
                    foreach (int t in threadCounts)
                    {
                        KernelOptions.Threads = t;
                        double sec = Median(() => MatMul.Multiply(a, m, w.View, c));
                        double gflops = 2.0 * m * n * k / sec / 1e9;
                        double gbs = (double)w.View.ByteLength / sec / 1e9;
                        Console.WriteLine($"{(m == 1 ? "gemv" : "gemm"),-5} {m,4} {k,5} {n,5} {dtype,-5} {t,3} {Format(sec),10} {gflops,8:F1} {gbs,7:F1}");
                    }
                }
        KernelOptions.Threads = 0;
        return 0;
    }

    /// <summary>Seconds per call: median over 5 batches, each sized to take roughly 40 ms.</summary>
    private static double Median(Action call)
    {
        // Long enough for tiering of the non-kernel code and for the thread pool to spin up.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalMilliseconds < 150) call();
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 20) { call(); reps++; }
        reps = Math.Max(1, (int)(reps * 40 / sw.Elapsed.TotalMilliseconds));
        var times = new double[5];
        for (int s = 0; s < times.Length; s++)
        {
            sw.Restart();
            for (int r = 0; r < reps; r++) call();
            times[s] = sw.Elapsed.TotalSeconds / reps;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }

    private static string Format(double sec) => sec >= 1e-3 ? $"{sec * 1e3:F2} ms" : $"{sec * 1e6:F1} us";
}
