// Time per phase and peak memory of a layer-streaming calibration run (what GPTQ's statistics cost), without writing a file.
using System.Diagnostics;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Bench.Calibration;

/// <summary>
/// <c>calib [--model DIR] [--calib FILE] [--nsamples 128] [--seqlen 512] [--original] [--hessian] [--memory]</c>:
/// runs the layer-streaming runner with 4-bit g128 RTN and, with --hessian, collects and forms every
/// linear layer's Hessian as GPTQ needs (the quantization itself stays RTN), then prints the phases.
/// </summary>
internal static class CalibrationRunBenchmark
{
    private sealed class HessianRtn(RtnLinearQuantizer inner) : ILinearQuantizer
    {
        public string Name => "rtn+hessian";
        public StatisticsNeeds Needs => StatisticsNeeds.Hessian;
        public ILinearQuantizer WithoutData => inner.WithoutData;
        public QuantizedLinear Quantize(LinearQuantizationInput input)
        {
            _ = input.Statistics!.Hessian(); // what GPTQ would start from
            return inner.Quantize(input);
        }
    }

    public static int Run(string[] args)
    {
        string Arg(string name, string def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        bool Flag(string name) => args.Contains(name);
        string model = Arg("--model", "../shared/models/sotu-llama-30m");
        string file = Arg("--calib", "../shared/data/sotu/train-1790-2009.txt");
        int n = int.Parse(Arg("--nsamples", "128")), len = int.Parse(Arg("--seqlen", "512"));
        var sw = Stopwatch.StartNew();
        using var m = LlamaModel.Load(model);
        var calib = CalibrationSet.RandomSegments(m.Tokenizer!, [file], n, len, 0);
        Console.WriteLine($"load + calibration text: {sw.Elapsed.TotalSeconds:F1} s ({calib.Description})");
        var rtn = new RtnLinearQuantizer(new GptqOptions { Bits = 4, GroupSize = 128 });
        ILinearQuantizer q = Flag("--hessian") ? new HessianRtn(rtn) : rtn;
        var runner = new LayerStreamingQuantizer(m, q, calib, new LayerStreamingOptions
        {
            OriginalActivations = Flag("--original"),
            Storage = Flag("--memory") ? ActivationStorage.Memory : ActivationStorage.Disk,
            // This benchmark prints the peak memory: the run must measure it.
            MeasurePeakMemory = true,
        });
        sw.Restart();
        int layers = 0;
        foreach (var _ in runner.Run()) layers++;
        var r = runner.Report;
        const double MiB = 1024 * 1024;
        Console.WriteLine($"{layers} layers, {(Flag("--original") ? "original activations" : "sequential")}, {(Flag("--hessian") ? "Hessians" : "mean squares only")}, activations on {(Flag("--memory") ? "memory" : "disk")}");
        Console.WriteLine($"embed {r.Embedding.TotalSeconds:F1} s, forward {r.Forward.TotalSeconds:F1} s, statistics {r.Statistics.TotalSeconds:F1} s, quantize {r.Quantization.TotalSeconds:F1} s, total {sw.Elapsed.TotalSeconds:F1} s, process CPU {Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:F1} s");
        Console.WriteLine($"peak managed {r.Memory.PeakManagedBytes / MiB:F1} MiB, peak anonymous RSS {r.Memory.PeakAnonymousBytes / MiB:F1} MiB (start {r.BaselineAnonymousBytes / MiB:F1}), VmHWM {r.Memory.PeakResidentBytes / MiB:F1} MiB; fp32 model {r.ModelFp32Bytes / MiB:F1} MiB + activations {r.ActivationBytes / MiB:F1} MiB");
        return 0;
    }
}
