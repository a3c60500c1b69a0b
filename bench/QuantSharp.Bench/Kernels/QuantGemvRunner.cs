// `qgemv`: matrix-vector throughput per GGUF block type, our integer kernels vs the old dequantizing path vs ggml's vec_dot.
using System.Diagnostics;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Bench.Kernels;

/// <summary>
/// `qgemv [--types Q4_1,Q2_K] [--k 2048] [--n 2048] [--isa Avx512|Avx2|Scalar] [--rounds 7]`: one
/// thread, M = 1, weights quantized by ggml from random values. Three contenders per type, timed in
/// interleaved rounds (each about 30 ms of calls); the clock is the calling thread's CPU time
/// (CLOCK_THREAD_CPUTIME_ID), not wall time, because everything runs on that one thread and on a
/// shared, oversubscribed machine wall time mostly measures the wait for a core. Medians printed:
/// <list type="bullet">
/// <item>dequant: one weight row to fp32 then an fp32 dot with the activations (what MatMul did for
/// types without integer kernels before they had them);</item>
/// <item>ours: MatMul.Multiply (activation quantization included); "no VBMI": the same with
/// <see cref="ExecutionOptions.Vbmi"/> off (the kernels' VBMI-free path, same bits);</item>
/// <item>ggml: the CPU backend's from_float + one vec_dot per row, as ggml's mul_mat on one thread.</item>
/// </list>
/// </summary>
public static unsafe class QuantGemvRunner
{
    public static int Run(string[] args)
    {
        DType[] types = [DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q8_0, DType.IQ4_NL,
                         DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.IQ4_XS];
        int k = 2048, n = 2048, rounds = 7;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--types": types = args[++i].Split(',').Select(t => Enum.Parse<DType>(t, ignoreCase: true)).ToArray(); break;
                case "--k": k = int.Parse(args[++i]); break;
                case "--n": n = int.Parse(args[++i]); break;
                case "--isa": KernelOptions.Isa = Enum.Parse<KernelIsa>(args[++i], ignoreCase: true); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        KernelOptions.Threads = 1;
        var rng = new Random(1);
        var values = new float[(long)n * k];
        for (long i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
        float[] x = BenchWeights.Activations(1, k);
        var y = new float[n];
        var row = new float[k];
        Console.WriteLine($"GEMV M=1 K={k} N={n}, 1 thread (thread CPU time), ISA {KernelOptions.EffectiveIsa}, ggml {GgmlCpuVecDot.For((int)GgmlType.Q4_0).Variant}; median of {rounds} interleaved rounds");
        // "ours": what a loaded model runs (the quad-interleaved copy where the type has one, see TensorView.WithInterleavedCopy);
        // "rows": the same kernels on the file's row layout.
        Console.WriteLine($"{"type",-7} {"dequant",10} {"rows",10} {"ours",10} {"no VBMI",10} {"ggml",10} {"ours GB/s",9} {"ggml GB/s",9} {"ours/dequant",12} {"ours/ggml",9}");
        var noVbmi = new ExecutionOptions { Threads = 1, Isa = KernelOptions.Isa, Vbmi = false };
        foreach (var type in types)
        {
            int ggmlType = (int)Enum.Parse<GgmlType>(type.ToString());
            byte[] packed = GgmlQuantOracle.Quantize(ggmlType, values, n, k);
            long rowBytes = packed.Length / n;
            var ggml = GgmlCpuVecDot.For(ggmlType);
            byte* w = (byte*)NativeMemory.AlignedAlloc((nuint)packed.Length, 64);
            byte* scratch = (byte*)NativeMemory.AlignedAlloc((nuint)ggml.ActivationBytes(k), 64);
            try
            {
                packed.CopyTo(new Span<byte>(w, packed.Length));
                var view = new TensorView("w", type, [n, k], w, packed.Length);
                byte* wl = w;
                Action dequant = () =>
                {
                    for (int r = 0; r < n; r++)
                    {
                        BlockDequantizer.DequantizeRow(type, new ReadOnlySpan<byte>(wl + r * rowBytes, (int)rowBytes), row);
                        y[r] = System.Numerics.Tensors.TensorPrimitives.Dot(row, x);
                    }
                };
                Action rows = () => MatMul.Multiply(x, 1, view, y);
                var interleaved = view.WithInterleavedCopy();
                Action ours = () => MatMul.Multiply(x, 1, interleaved, y);
                Action oursNoVbmi = () =>
                {
                    using var scope = KernelOptions.Use(noVbmi);
                    MatMul.Multiply(x, 1, interleaved, y);
                };
                Action theirs = () =>
                {
                    fixed (float* px = x)
                    fixed (float* py = y)
                        ggml.Gemv(wl, rowBytes, n, k, px, scratch, py);
                };
                double[] t = Interleaved([dequant, rows, ours, oursNoVbmi, theirs], rounds);
                double gb = packed.Length / 1e9;
                Console.WriteLine($"{type,-7} {Format(t[0]),10} {Format(t[1]),10} {Format(t[2]),10} {Format(t[3]),10} {Format(t[4]),10} {gb / t[2],9:F1} {gb / t[4],9:F1} {t[0] / t[2],11:F2}x {t[4] / t[2],8:F2}x");
            }
            finally
            {
                NativeMemory.AlignedFree(w);
                NativeMemory.AlignedFree(scratch);
            }
        }
        KernelOptions.Threads = 0;
        return 0;
    }

    /// <summary>Seconds per call of each action: median over rounds, each round timing every action for about 30 ms.</summary>
    internal static double[] Interleaved(Action[] calls, int rounds, Func<double>? clock = null)
    {
        var reps = new int[calls.Length];
        for (int c = 0; c < calls.Length; c++)
        {
            var warm = Stopwatch.StartNew();
            int r = 0;
            while (warm.Elapsed.TotalMilliseconds < 100) { calls[c](); r++; }
            reps[c] = Math.Max(1, (int)(r * 30 / warm.Elapsed.TotalMilliseconds));
        }
        var times = new double[calls.Length][];
        for (int c = 0; c < calls.Length; c++) times[c] = new double[rounds];
        for (int s = 0; s < rounds; s++)
        {
            for (int c = 0; c < calls.Length; c++)
            {
                clock ??= ThreadCpuSeconds;
                double t0 = clock();
                for (int r = 0; r < reps[c]; r++) calls[c]();
                times[c][s] = (clock() - t0) / reps[c];
            }
        }
        return times.Select(t => { Array.Sort(t); return t[t.Length / 2]; }).ToArray();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec time);

    /// <summary>CPU time consumed by the calling thread (Linux CLOCK_THREAD_CPUTIME_ID = 3).</summary>
    internal static double ThreadCpuSeconds()
    {
        if (ClockGetTime(3, out var t) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return t.Seconds + t.Nanoseconds * 1e-9;
    }

    internal static string Format(double sec) => sec >= 1e-3 ? $"{sec * 1e3:F2} ms" : $"{sec * 1e6:F1} us";
}
