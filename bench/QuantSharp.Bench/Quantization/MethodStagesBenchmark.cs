// `method-stages`: where the time of a calibrated quantization goes, stage by stage, for each method, with the run's peak memory.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Quantization.Streaming;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.Quantization;

/// <summary>
/// <c>method-stages [--model DIR] [--calib FILE] [--methods rtn,awq,gptq,awq+gptq,rotate+gptq,rotate+awq+gptq]
/// [--type Q4_K_M | --format hf-gptq] [--nsamples 16] [--seqlen 256] [--threads 2] [--runs 1] [--no-memory]</c>:
/// each method runs in process through <see cref="QuantSharpModel.Quantize"/> — the code path of <c>quantsharp quantize
/// --method M --calib FILE --measure-memory</c> — into a temporary output that is deleted afterwards. The stages come from
/// the run's own timers (<see cref="QuantizeResult"/> and its <see cref="StreamingRunReport"/>):
/// nothing of the pipeline is repeated here, so the split is that of the CLI's run. Of the runs of a method, the one with
/// the median wall time is printed. Every stage is measured except the exporter's share ("write"), which is the run's time
/// outside the runner's enumeration and the classifier, and "other", the wall time outside the result's four top-level
/// times (request validation, the protected-path checks, disposing the model and the rotation's temporary file).
/// </summary>
internal static class MethodStagesBenchmark
{
    /// <summary>One stage's row: label and the seconds it took in a result (with the wall time measured around the call).</summary>
    private sealed record Stage(string Label, Func<QuantizeResult, double, double> Seconds);

    private static double S(TimeSpan t) => t.TotalSeconds;

    private static readonly Stage[] Stages =
    [
        new("load (map the model)", (r, _) => S(r.LoadTime)),
        new("rotation: embedding, head, final norm (before the run)", (r, _) => S(r.RotationTime)),
        new("calibration text (read, tokenize)", (r, _) => S(r.CalibrationTime)),
        new("classifier (whole-model forward for the head's inputs, encode)", (r, _) => S(r.ClassifierTime)),
        new("calibration forwards (embedding + layer forwards)", (r, _) => S(r.Report!.Embedding + r.Report.Forward)),
        new("statistics (GPTQ's Hessians / mean x² for importance)", (r, _) => S(r.Report!.Statistics)),
        new("rotation per layer (norm folding + Hadamard)", (r, _) => S(r.Report!.TransformTimes.GetValueOrDefault("rotation"))),
        new("AWQ scale + clip search", (r, _) => S(r.Report!.TransformTimes.GetValueOrDefault("awq"))),
        new("transform setup (layer to fp32, calibration inputs gathered)", (r, _) => S(r.Report!.Transforms - TransformSum(r))),
        new("GPTQ factorisation (damp, Cholesky, inverse)", (r, _) => S(r.Report!.Factorisation)),
        new("GPTQ sweep", (r, _) => S(r.Report!.Sweep)),
        new("quantize/pack (weights to fp32, rounding and block encoding outside GPTQ)", (r, _) => S(r.Report!.Quantization - r.Report.Factorisation - r.Report.Sweep)),
        new("memory measurement (forced full collections)", (r, _) => S(r.Report!.MeasurementCollections)),
        new("runner bookkeeping (activation files, layer setup)", (r, _) => S(r.Report!.Elapsed - RunnerStages(r))),
        new("write (exporter: embedding/head encoding, packing, file I/O)", (r, _) => S(r.RunTime - r.ClassifierTime - r.Report!.Elapsed)),
        new("other (validation, path checks, disposal)", (r, wall) => wall - S(r.LoadTime + r.RotationTime + r.CalibrationTime + r.RunTime)),
    ];

    private static TimeSpan TransformSum(QuantizeResult r) => r.Report!.TransformTimes.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b);

    private static TimeSpan RunnerStages(QuantizeResult r)
    {
        var p = r.Report!;
        return p.Embedding + p.Forward + p.Statistics + p.Transforms + p.Quantization + p.MeasurementCollections;
    }

    public static int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? Path.Combine(SharedRoot(), "models", "sotu-llama-30m");
        string calib = Arg(args, "--calib") ?? Path.Combine(SharedRoot(), "data", "sotu", "train-1790-2009.txt");
        var methods = (Arg(args, "--methods") ?? "rtn,awq,gptq,awq+gptq,rotate+gptq,rotate+awq+gptq").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string? format = Arg(args, "--format");
        string? type = format is null ? Arg(args, "--type") ?? "Q4_K_M" : Arg(args, "--type");
        if (type != null && format != null) { Console.Error.WriteLine("method-stages: give --type MIX or --format FORMAT, not both"); return 2; }
        int samples = int.Parse(Arg(args, "--nsamples") ?? "16"), seqLen = int.Parse(Arg(args, "--seqlen") ?? "256");
        int threads = int.Parse(Arg(args, "--threads") ?? "2"), runs = int.Parse(Arg(args, "--runs") ?? "1");
        bool memory = !args.Contains("--no-memory");
        if (runs < 1) { Console.Error.WriteLine("method-stages: --runs must be ≥ 1"); return 2; }
        var parsed = new List<(string Name, QuantizeMethod Method, bool Rotate)>();
        foreach (var m in methods)
        {
            if (Parse(m) is not { } p) { Console.Error.WriteLine($"method-stages: unknown method '{m}' (rtn, gptq, awq, awq+gptq, each optionally rotate+…)"); return 2; }
            parsed.Add((m, p.Method, p.Rotate));
        }

        var temp = Directory.CreateTempSubdirectory("qs-method-stages-");
        var results = new List<(string Name, QuantizeResult Result, double Wall)>();
        try
        {
            foreach (var (name, method, rotate) in parsed)
            {
                var times = new List<(QuantizeResult Result, double Wall)>();
                for (int run = 0; run < runs; run++)
                {
                    string output = Path.Combine(temp.FullName, format is null ? "out.gguf" : "out");
                    // Plain RTN into a Hugging Face grid reads no statistics: it runs without calibration, as the CLI would be told to.
                    bool dataFree = method == QuantizeMethod.Rtn && format is not null && !format.StartsWith("gguf:", StringComparison.Ordinal);
                    var request = new QuantizeRequest
                    {
                        Model = model, Output = output, Type = type, Format = format, Method = method, Rotate = rotate,
                        Calibration = dataFree ? [] : [calib], Samples = dataFree ? null : samples, SequenceLength = dataFree ? null : seqLen,
                        MeasurePeakMemory = memory,
                        Execution = new ExecutionOptions { Threads = threads },
                        OnWarning = w => Console.Error.WriteLine($"warning: {w}"),
                    };
                    var sw = Stopwatch.StartNew();
                    var result = QuantSharpModel.Quantize(request);
                    double wall = sw.Elapsed.TotalSeconds;
                    if (result.Report is { MemoryMeasured: true } rep) rep.Memory.Sample(); // as the CLI does: the run's end is a sample point too
                    if (File.Exists(output)) File.Delete(output);
                    else if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
                    Console.Error.WriteLine($"{name} run {run + 1}: {wall:F1} s ({result.Description})");
                    times.Add((result, wall));
                }
                var median = times.OrderBy(t => t.Wall).ElementAt(times.Count / 2);
                results.Add((name, median.Result, median.Wall));
                // Each method's table as soon as it is done (a long run stopped part-way keeps what it measured).
                Print([results[^1]], model, type, format, threads, runs, memory);
            }
        }
        finally
        {
            temp.Delete(recursive: true);
        }
        if (results.Count > 1)
        {
            Console.WriteLine("all methods:");
            Print(results, model, type, format, threads, runs, memory);
        }
        return 0;
    }

    /// <summary>The stage table of <paramref name="results"/>, one column per method, then their memory figures.</summary>
    private static void Print(List<(string Name, QuantizeResult Result, double Wall)> results, string model, string? type, string? format, int threads, int runs, bool memory)
    {
        // A data-free RTN run has no calibration: the header names the one the calibrated methods used.
        string calibration = results.Select(r => r.Result.CalibrationDescription).FirstOrDefault(d => d != null) ?? "no calibration";
        Console.WriteLine($"{model}: {(type is null ? format : $"--type {type}")}, {calibration}, "
            + $"{threads} thread(s), ISA {KernelOptions.EffectiveIsa}, {(runs == 1 ? "one run" : $"the median-wall run of {runs}")} per method{(memory ? ", --measure-memory" : "")}");
        Console.WriteLine();
        Console.WriteLine($"| stage (seconds) | {string.Join(" | ", results.Select(r => r.Name))} |");
        Console.WriteLine($"|---|{string.Concat(results.Select(_ => "---|"))}");
        foreach (var stage in Stages)
        {
            var cells = results.Select(r => stage.Seconds(r.Result, r.Wall)).ToArray();
            // A stage no method has (no rotation asked, no mix classifier) is left out rather than shown as a row of dashes.
            if (cells.All(c => Math.Abs(c) < 0.0005)) continue;
            Console.WriteLine($"| {stage.Label} | {string.Join(" | ", cells.Select(c => Math.Abs(c) < 0.0005 ? "—" : c.ToString("F2")))} |");
        }
        Console.WriteLine($"| **sum of the stages** | {string.Join(" | ", results.Select(r => Stages.Sum(s => s.Seconds(r.Result, r.Wall)).ToString("F2")))} |");
        Console.WriteLine($"| **wall** | {string.Join(" | ", results.Select(r => $"**{r.Wall:F2}**"))} |");
        if (memory)
        {
            const double MiB = 1024 * 1024;
            string Row(Func<StreamingRunReport, double> f) => string.Join(" | ", results.Select(r => f(r.Result.Report!).ToString("F1")));
            Console.WriteLine($"| peak anonymous RSS, MiB | {Row(p => p.Memory.PeakAnonymousBytes / MiB)} |");
            Console.WriteLine($"| … of which above the run start, MiB | {Row(p => (p.Memory.PeakAnonymousBytes - p.BaselineAnonymousBytes) / MiB)} |");
            Console.WriteLine($"| peak managed heap, MiB | {Row(p => p.Memory.PeakManagedBytes / MiB)} |");
            Console.WriteLine($"| peak RSS incl. mapped files, MiB | {Row(p => p.Memory.PeakResidentBytes / MiB)} |");
            Console.WriteLine($"| whole model fp32 + calibration activations, MiB | {Row(p => (p.ModelFp32Bytes + p.ActivationBytes) / MiB)} |");
        }
        Console.WriteLine();
    }

    /// <summary>"rotate+awq+gptq" → (AwqGptq, rotate); null for a name that is not a method.</summary>
    private static (QuantizeMethod Method, bool Rotate)? Parse(string name)
    {
        bool rotate = name.StartsWith("rotate+", StringComparison.Ordinal);
        QuantizeMethod? method = (rotate ? name["rotate+".Length..] : name) switch
        {
            "rtn" => QuantizeMethod.Rtn,
            "gptq" => QuantizeMethod.Gptq,
            "awq" or "awq+rtn" => QuantizeMethod.Awq,
            "awq+gptq" => QuantizeMethod.AwqGptq,
            _ => null,
        };
        return method is { } m ? (m, rotate) : null;
    }
}
