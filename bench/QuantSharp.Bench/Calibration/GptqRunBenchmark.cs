// `gptq-run`: a whole GPTQ run on a real model, phase by phase, against the FLOPs it performs at our GEMM peak.
using System.Diagnostics;
using QuantSharp.Bench.Kernels;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Bench.Calibration;

/// <summary>
/// <c>gptq-run [--model DIR] [--calib FILE] [--nsamples 32] [--seqlen 512] [--bits 4] [--threads 2] [--runs 3]</c>:
/// <c>quantize --method gptq --format hf-gptq</c> in process (sequential, true-sequential, activations on
/// disk), median of the runs. Phases: forward passes, statistics (Hessians), GPTQ's factorisation
/// (dampening + Cholesky + inverse) and sweep, write+other. FLOPs are counted from the shapes as the
/// runner performs them: linear layers 2·n·in·out for every pass that computes them (gate/up once per
/// layer: with activations on disk the runner keeps silu(gate)·up of down_proj's statistics pass for the
/// pass with the quantized down_proj; before session 16 it computed them twice), causal attention 2·qDim·L(L+1) per sequence, Hessians ≈ n·d² (block rows of the lower triangle of the Gram product), factorisation 2d³/3
/// and sweep rows·cols² per linear. The peak is the best of our fp32 GEMM on a calibration-shaped
/// product (512 × 512 × 1536) with the same thread count.
/// </summary>
internal static class GptqRunBenchmark
{
    /// <summary>Sums GPTQ's own phase times over the layers of one run.</summary>
    private sealed class TimedGptq(GptqLinearQuantizer inner) : ILinearQuantizer
    {
        public TimeSpan Factor, Sweep;
        public string Name => inner.Name;
        public StatisticsNeeds Needs => inner.Needs;
        public ILinearQuantizer WithoutData => inner.WithoutData;
        public QuantizedLinear Quantize(LinearQuantizationInput input)
        {
            var r = inner.Quantize(input);
            Factor += r.Grid!.FactorTime;
            Sweep += r.Grid!.SweepTime;
            return r;
        }
    }

    private sealed record Phases(double Forward, double Statistics, double Factor, double Sweep, double Other, double Total);

    public static int Run(string[] args)
    {
        string Arg(string name, string def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        string model = Arg("--model", "../shared/models/sotu-llama-30m");
        string file = Arg("--calib", "../shared/data/sotu/train-1790-2009.txt");
        int n = int.Parse(Arg("--nsamples", "32")), len = int.Parse(Arg("--seqlen", "512"));
        int bits = int.Parse(Arg("--bits", "4")), threads = int.Parse(Arg("--threads", "2")), runs = int.Parse(Arg("--runs", "3"));
        KernelOptions.Threads = threads;
        using var m = LlamaModel.Load(model);
        var calib = CalibrationSet.RandomSegments(m.Tokenizer!, [file], n, len, 0);
        var hp = m.Parameters;
        var options = new GptqOptions { Bits = bits, GroupSize = 128 };

        // FLOPs as the sequential runner performs them (LayerStreamingQuantizer.ProcessLayer/Pass).
        double tokens = calib.TotalTokens;
        double qkv = 2.0 * hp.Dim * (hp.QDim + 2 * hp.KvDim), o = 2.0 * hp.QDim * hp.Dim, gateUp = 2.0 * 2 * hp.Dim * hp.HiddenDim, down = 2.0 * hp.HiddenDim * hp.Dim;
        double attention = 0;
        foreach (var s in calib.Sequences) attention += 2.0 * hp.QDim * s.Length * (s.Length + 1.0);
        double forwardFlops = hp.NumLayers * (tokens * (qkv + o + gateUp + down) + attention);
        // Hessians: block rows of 128 of the lower triangle of XᵀX (LinearInputStatistics), per input group.
        static double GramFlops(int d)
        {
            double f = 0;
            for (int r0 = 0; r0 < d; r0 += 128) { int tr = Math.Min(128, d - r0); f += 2.0 * tr * (r0 + tr); }
            return f;
        }
        double statsFlops = hp.NumLayers * tokens * (GramFlops(hp.Dim) * 2 + GramFlops(hp.QDim) + GramFlops(hp.HiddenDim));
        var linears = new (int Rows, int Cols)[] { (hp.QDim, hp.Dim), (hp.KvDim, hp.Dim), (hp.KvDim, hp.Dim), (hp.Dim, hp.QDim), (hp.HiddenDim, hp.Dim), (hp.HiddenDim, hp.Dim), (hp.Dim, hp.HiddenDim) };
        double factorFlops = 0, sweepFlops = 0;
        foreach (var (rows, cols) in linears)
        {
            factorFlops += hp.NumLayers * 2.0 * cols * (double)cols * cols / 3;
            sweepFlops += hp.NumLayers * (double)rows * cols * cols;
        }
        double totalFlops = forwardFlops + statsFlops + factorFlops + sweepFlops;
        double peak = GemmPeak();

        var results = new List<Phases>();
        for (int run = 0; run < runs; run++)
        {
            string outDir = Path.Combine(Path.GetTempPath(), $"qs-gptq-run-{Environment.ProcessId}-{run}");
            var timed = new TimedGptq(new GptqLinearQuantizer(options));
            var runner = new LayerStreamingQuantizer(m, timed, calib, new LayerStreamingOptions());
            var sw = Stopwatch.StartNew();
            HfGptqExporter.Export(m, runner, options, outDir);
            double total = sw.Elapsed.TotalSeconds;
            Directory.Delete(outDir, recursive: true);
            var rep = runner.Report;
            double factor = timed.Factor.TotalSeconds, sweep = timed.Sweep.TotalSeconds;
            double forward = rep.Forward.TotalSeconds + rep.Embedding.TotalSeconds, stats = rep.Statistics.TotalSeconds;
            results.Add(new Phases(forward, stats, factor, sweep, total - forward - stats - factor - sweep, total));
            Console.WriteLine($"run {run + 1}: {total:F1} s");
        }
        Phases Median(Func<Phases, double> key) => results.OrderBy(key).ElementAt(results.Count / 2);
        double Med(Func<Phases, double> key) => key(Median(key));

        Console.WriteLine($"{model}: GPTQ {bits}-bit g128, {calib.Description}, sequential, {threads} thread(s), ISA {KernelOptions.EffectiveIsa}, median of {runs}");
        Console.WriteLine($"fp32 GEMM peak (512×512×1536, best of 20): {peak:F1} GFLOP/s");
        Console.WriteLine();
        Console.WriteLine("| phase | seconds | GFLOP | GFLOP/s | share of GEMM peak |");
        Console.WriteLine("|---|---|---|---|---|");
        void Row(string name, double sec, double flops) =>
            Console.WriteLine(flops > 0 ? $"| {name} | {sec:F2} | {flops / 1e9:F1} | {flops / sec / 1e9:F1} | {flops / sec / 1e9 / peak:P0} |" : $"| {name} | {sec:F2} | — | — | — |");
        Row("forward passes (linears + attention)", Med(p => p.Forward), forwardFlops);
        Row("statistics (Hessians 2/n·XᵀX)", Med(p => p.Statistics), statsFlops);
        Row("GPTQ factorisation (damp, Cholesky, inverse; fp64)", Med(p => p.Factor), factorFlops);
        Row("GPTQ sweep (fp64)", Med(p => p.Sweep), sweepFlops);
        Row("write + other (packing, safetensors, GC)", Med(p => p.Other), 0);
        double whole = Med(p => p.Total);
        Row("**whole run**", whole, totalFlops);
        Console.WriteLine();
        Console.WriteLine($"whole run {whole:F1} s vs {totalFlops / 1e9:F0} GFLOP at the GEMM peak = {totalFlops / peak / 1e9:F1} s: {whole / (totalFlops / peak / 1e9):F2}× (goal ≤ 2×)");
        KernelOptions.Threads = 0;
        return 0;
    }

    private static double GemmPeak()
    {
        const int M = 512, K = 512, N = 1536;
        using var w = new BenchWeights(DType.F32, N, K);
        var a = BenchWeights.Activations(M, K);
        var c = new float[M * N];
        double best = double.MaxValue;
        for (int i = 0; i < 21; i++)
        {
            long t = Stopwatch.GetTimestamp();
            MatMul.Multiply(a, M, w.View, c);
            if (i > 0) best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        return 2.0 * M * N * K / best / 1e9;
    }
}
