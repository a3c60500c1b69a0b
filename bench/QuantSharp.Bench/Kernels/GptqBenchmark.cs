// `gptq`: times GPTQ's two phases (factor of H⁻¹, column sweep) on real layer shapes against the GEMM peaks.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Bench.Kernels;

/// <summary>
/// `gptq [--model DIR] [--threads 1,2] [--runs 3]`: for sotu-llama-30m's blk.0 ffn_down (512×1536,
/// the largest Hessian) and ffn_gate (1536×512), the median time of the Cholesky route to U
/// (Cholesky of H + triangular inverse, ≈ 2n³/3 flops), of the column sweep (rows·cols² flops, lazy
/// block updates in the fp64 kernel) and of the whole GptqQuantizer call, with GFLOP/s beside the
/// fp64 kernel's own peak on a large product and the fp32 MatMul GEMM peak. H comes from random
/// correlated inputs (n = 2·cols); its values do not change the work done.
/// </summary>
public static unsafe class GptqBenchmark
{
    public static int Run(string[] args)
    {
        string model = Path.Combine("..", "shared", "models", "sotu-llama-30m");
        var threadCounts = new List<int> { 1, 2 };
        int runs = 3;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--threads": threadCounts = args[++i].Split(',').Select(int.Parse).ToList(); break;
                case "--runs": runs = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        using var llama = LlamaModel.Load(model);
        var layers = new (string Name, TensorView W)[] { ("blk.0.ffn_down", llama.Layers[0].WDown), ("blk.0.ffn_gate", llama.Layers[0].WGate) };
        Console.WriteLine($"ISA {KernelOptions.EffectiveIsa}, {Environment.ProcessorCount} logical CPUs, median of {runs}");
        foreach (int t in threadCounts)
        {
            KernelOptions.Threads = t;
            double f64 = Fp64Peak(1024, runs), f32 = Fp32Peak(512, 1536, 512, runs);
            Console.WriteLine($"threads {t}: fp64 kernel (1024³ C−=AB) {f64:F1} GFLOP/s, fp32 MatMul GEMM (512×1536×512) {f32:F1} GFLOP/s");
            Console.WriteLine($"  {"layer",-15} {"rows×cols",10} {"factor",9} {"GFLOP/s",7} {"sweep",9} {"GFLOP/s",7} {"total",9}");
            foreach (var (name, w) in layers)
            {
                int rows = (int)w.Rows, cols = (int)w.Columns;
                var weight = w.ToFloat32();
                var h = RandomHessian(cols, 2 * cols);
                double factorFlops = 2.0 * cols * (double)cols * cols / 3;
                double sweepFlops = (double)rows * cols * cols;
                double factor = Median(runs, () => CholeskyFactorization.UpperCholeskyOfInverse(h, cols, 0.01));
                var lower = new double[h.Length];
                double chol = Median(runs, () => { Array.Copy(h, lower, h.Length); CholeskyFactorization.FactorLower(lower, cols); });
                double inv = Median(runs, () => CholeskyFactorization.InvertLower(lower, cols));
                var u = CholeskyFactorization.UpperCholeskyOfInverse(h, cols, 0.01)!;
                var grid = new IntegerGrid(rows, cols, 4, false, false, 1, new int[cols], 0);
                for (int r = 0; r < rows; r++) grid.SetParameters(0, r, Array.ConvertAll(weight.AsSpan(r * cols, cols).ToArray(), v => (double)v));
                var work = new double[(long)rows * cols];
                var rounded = new double[(long)rows * cols];
                double sweep = Median(runs, () =>
                {
                    for (long i = 0; i < work.Length; i++) work[i] = weight[i];
                    GptqSweep.Run(work, rows, cols, u, 128, grid, rounded);
                });
                double total = Median(runs, () => GptqQuantizer.Quantize(weight, rows, cols, h, new GptqOptions { Bits = 4, GroupSize = 128 }));
                Console.WriteLine($"  {name,-15} {rows + "×" + cols,10} {Ms(factor),9} {factorFlops / factor / 1e9,7:F1} {Ms(sweep),9} {sweepFlops / sweep / 1e9,7:F1} {Ms(total),9}   (Cholesky {Ms(chol)}, {factorFlops / 2 / chol / 1e9:F1} GFLOP/s; inverse {Ms(inv)}, {factorFlops / 2 / inv / 1e9:F1} GFLOP/s)");
            }
        }
        KernelOptions.Threads = 0;
        return 0;
    }

    private static double[] RandomHessian(int cols, int samples)
    {
        var rng = new Random(1);
        var x = new double[(long)samples * cols];
        for (int s = 0; s < samples; s++)
        {
            double common = rng.NextDouble() - 0.5;
            for (int c = 0; c < cols; c++) x[(long)s * cols + c] = rng.NextDouble() - 0.5 + common * (c % 3);
        }
        var xt = new double[(long)cols * samples];
        for (int s = 0; s < samples; s++) for (int c = 0; c < cols; c++) xt[(long)c * samples + s] = x[(long)s * cols + c];
        var h = new double[(long)cols * cols];
        fixed (double* a = xt, b = x, c = h) Fp64Gemm.SubtractProduct(a, samples, b, cols, c, cols, cols, cols, samples);
        for (long i = 0; i < h.Length; i++) h[i] *= -2.0 / samples;
        return h;
    }

    private static double Fp64Peak(int n, int runs)
    {
        var a = new double[(long)n * n];
        var b = new double[(long)n * n];
        var c = new double[(long)n * n];
        for (long i = 0; i < a.Length; i++) { a[i] = (i % 7) * 0.1; b[i] = (i % 5) * 0.1; }
        double sec = Median(runs, () =>
        {
            fixed (double* pa = a, pb = b, pc = c)
            {
                double* A = pa, B = pb, C = pc;
                Parallel.For(0, n / 32, KernelOptions.Parallel, s => Fp64Gemm.SubtractProduct(A + (long)s * 32 * n, n, B, n, C + (long)s * 32 * n, n, 32, n, n));
            }
        });
        return 2.0 * n * n * (double)n / sec / 1e9;
    }

    private static double Fp32Peak(int m, int k, int n, int runs)
    {
        using var w = new BenchWeights(DType.F32, n, k);
        var a = BenchWeights.Activations(m, k);
        var c = new float[m * n];
        double sec = Median(runs * 3, () => MatMul.Multiply(a, m, w.View, c));
        return 2.0 * m * n * k / sec / 1e9;
    }

    private static double Median(int runs, Action call)
    {
        call();
        var times = new double[runs];
        var sw = new Stopwatch();
        for (int i = 0; i < runs; i++)
        {
            sw.Restart();
            call();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    private static string Ms(double sec) => $"{sec * 1e3:F1} ms";
}
