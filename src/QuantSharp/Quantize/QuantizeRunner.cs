// Runs a validated QuantizeRequest: the one code path behind QuantSharpModel.Quantize and `quantsharp quantize`.
using System.Diagnostics;
using QuantSharp.Core.IO;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Reporting;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp;

/// <summary>Executes quantization requests (validation first, then load, calibrate, quantize and write).</summary>
internal static class QuantizeRunner
{
    public static QuantizeResult Run(QuantizeRequest request, IProgress<QuantizeProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var plan = request.Resolve();
        using var scope = request.Execution is { } e ? KernelOptions.Use(e) : null;
        string outPath = Path.GetFullPath(request.Output);
        // Every input is protected, not only the model: `--calib X -o X` must not replace the text.
        var inputs = Inputs(request.Model, [request.Tokenizer, request.Imatrix, .. request.Calibration]);
        AtomicFile.ThrowIfProtected(outPath, inputs);
        var p = progress is null ? null : new ProgressAdapter(progress);
        var report = request.ReportDirectory is null ? null : new QuantizeReportCollector(request.OnInfo);
        var result = plan.Method is null
            ? RunMix(request, plan, outPath, inputs, p, report, cancellationToken)
            : RunMethod(request, plan, outPath, inputs, p, report, cancellationToken);
        return report is null ? result : WriteReport(request, plan, result, report);
    }

    // The report is written after the output is complete (a failed run leaves no report).
    private static QuantizeResult WriteReport(QuantizeRequest request, QuantizePlan plan, QuantizeResult result, QuantizeReportCollector report)
    {
        var tensors = report.Tensors;
        var run = new QuantizeReportRun
        {
            Method = plan.Method is null ? request.Pure ? $"{plan.FileType} pure" : plan.FileType.ToString() : plan.MethodName,
            Format = plan.Method is null ? "gguf" : request.Format,
            Description = result.Description,
            Model = Path.GetFullPath(request.Model),
            Output = result.OutputPath,
            OutputBytes = QuantizeReportWriter.OutputBytes(result.OutputPath),
            LoadTime = result.LoadTime,
            RotationTime = result.RotationTime,
            CalibrationTime = result.CalibrationTime,
            RunTime = result.RunTime,
            Calibration = result.CalibrationDescription,
            Rotation = result.Rotation,
        };
        var floats = report.FloatTensors;
        QuantizeReportWriter.Write(request.ReportDirectory!, run, tensors, floats, request.ReportCharts);
        if (request.ReportCharts is null)
            request.OnInfo?.Invoke($"report: {QuantizeReportWriter.JsonFile} only, no charts (QuantizeRequest.ReportCharts is not set; the QuantSharp.Reporting.Charts package draws them)");
        return result with { ReportDirectory = Path.GetFullPath(request.ReportDirectory!), Tensors = tensors, UnquantizedTensors = [.. floats.Select(f => f.Name)] };
    }

    private static QuantizeResult RunMix(QuantizeRequest request, QuantizePlan plan, string outPath, List<string> inputs,
        IProgress<(int Done, int Total)>? progress, QuantizeReportCollector? report, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var importance = request.Imatrix is null ? null : ImatrixFile.Read(Path.GetFullPath(request.Imatrix)).ToQuantizerImportance();
        using var m = LlamaModel.Load(request.Model, request.Tokenizer);
        var load = sw.Elapsed;
        sw.Restart();
        if (report is null)
            LlamaCppMixRecipe.Quantize(m, outPath, plan.FileType, importance, pure: request.Pure, protectedPaths: inputs, progress: progress, cancellationToken: ct,
                overrides: plan.Overrides);
        else
        {
            // The same encoding, observed: each block-encoded tensor is dequantized and measured after it is encoded.
            var encoding = GgufEncodingErrors.Observe(LlamaCppMixRecipe.Encoding(m, plan.FileType, importance, request.Pure, plan.Overrides), report.Add, report.AddFloat);
            GgufLlamaExporter.Export(m, outPath, encoding, protectedPaths: inputs, progress: progress, cancellationToken: ct);
        }
        string what = (request.Pure ? $"{plan.FileType}, pure {LlamaCppFileTypeNames.DefaultType(plan.FileType)}" : plan.FileType.ToString())
            + (plan.Overrides is { } o ? $", {o}" : "") + (importance is null ? "" : $", imatrix {importance.Count} tensors");
        return new QuantizeResult { OutputPath = outPath, Description = what, LoadTime = load, RunTime = sw.Elapsed, Rotation = m.Rotation };
    }

    private static QuantizeResult RunMethod(QuantizeRequest request, QuantizePlan plan, string outPath, List<string> inputs,
        IProgress<(int Done, int Total)>? progress, QuantizeReportCollector? report, CancellationToken ct)
    {
        // Activation files of killed runs, once ActivationStore names them quantsharp-activations-<pid>-<guid>.
        AtomicFile.SweepStaleIn(Path.GetTempPath(), "quantsharp-activations-");
        var sw = Stopwatch.StartNew();
        using var source = LlamaModel.Load(request.Model, request.Tokenizer);
        var loadTime = sw.Elapsed;
        sw.Restart();
        // rotate+METHOD: the method runs on the rotated model as it would on a rotated folder — its embedding, head and
        // final norm rotated now, each decoder layer by the run's first transform when the run reaches it.
        using var rotated = plan.Rotation is { } rotation ? Rotate(request, plan, source, rotation, outPath, ct) : null;
        using var rotatedModel = rotated?.Open(source.Tokenizer, origin: source.Origin);
        var model = rotatedModel ?? source;
        var rotationTime = rotated is null ? TimeSpan.Zero : sw.Elapsed;
        CalibrationSet? calib = null;
        TimeSpan tokenizeTime = default;
        if (request.Calibration.Count > 0)
        {
            sw.Restart();
            var tok = model.Tokenizer ?? throw new InvalidDataException($"{model.Origin}: the model has no tokenizer; pass --tokenizer");
            int seqLen = request.SequenceLength ?? Math.Min(CalibrationSet.DefaultSequenceLength, model.Parameters.ContextLength);
            if (seqLen > model.Parameters.ContextLength)
                throw new QuantizeRequestException("--seqlen", nameof(QuantizeRequest.SequenceLength), $"{seqLen} exceeds the model's context of {model.Parameters.ContextLength}");
            int n = request.Samples ?? CalibrationSet.DefaultSamples;
            ulong seed = request.Seed ?? 0;
            calib = request.WholeDocuments
                ? CalibrationSet.WholeDocuments(tok, request.Calibration, n, seqLen, seed)
                : CalibrationSet.RandomSegments(tok, request.Calibration, n, seqLen, seed);
            tokenizeTime = sw.Elapsed;
            request.OnInfo?.Invoke($"calibration: {calib.Description}");
        }
        sw.Restart();
        // A named mix's per-tensor types, planned once for the layer quantizer and the classifier (as with an importance
        // matrix: the calibration gives one).
        var mixTypes = plan.MixRounding is null ? null : LlamaCppMixRecipe.Plan(model, plan.FileType, hasImportance: true, pure: request.Pure, plan.Overrides);
        var (quantizer, transforms) = plan.MixRounding is { } rounding ? MixQuantizer(plan, model, mixTypes!, rounding, request.OnWarning) : (plan.Quantizer!, plan.Transforms);
        if (rotated != null) transforms = [rotated.LayerTransform, .. transforms];
        var opts = new LayerStreamingOptions
        {
            OriginalActivations = request.OriginalActivations,
            Storage = request.Activations ?? ActivationStorage.Disk,
            Progress = progress,
            Warn = request.OnWarning,
            Transforms = transforms,
            Log = request.OnInfo,
            MeasurePeakMemory = request.MeasurePeakMemory,
            TensorQuantized = report is null ? null : report.Add,
        };
        var runner = new LayerStreamingQuantizer(model, quantizer, calib, opts);
        var grid = plan.Grid;
        var classifierTime = TimeSpan.Zero;
        if (plan.MixRounding is { } mixRounding)
        {
            Dictionary<string, byte[]>? classifier = null;
            if (calib is not null && !request.RoundOutputToNearest)
                (classifier, classifierTime) = MeasuredClassifier(runner, () => EncodeClassifier(request, plan, mixTypes!, source, model, rotated, calib, mixRounding, runner.SampleMemoryNow, ct));
            GgufStreamingExport.Export(model, runner, plan.FileType, request.Pure, outPath, protectedPaths: inputs, cancellationToken: ct,
                tensorQuantized: report is null ? null : report.Add, floatTensor: report is null ? null : report.AddFloat, overrides: plan.Overrides,
                encodedModelTensors: classifier);
        }
        else if (plan.GgufType is { } t)
        {
            // A GPTQ method into gguf:T rounds the classifier by GPTQ with its own inputs, as into a mix (--rtn-output: to nearest).
            Dictionary<string, byte[]>? classifier = null;
            if (request.CalibratesPureClassifier && calib is not null && !request.RoundOutputToNearest)
            {
                string name = ClassifierCalibration.TensorName(model);
                var pureTypes = new Dictionary<string, GgmlType> { [name] = PureGgufRecipe.Encoding(model, t).TypeFor(name, model.Output.Shape) };
                (classifier, classifierTime) = MeasuredClassifier(runner, () => EncodeClassifier(request, plan, pureTypes, source, model, rotated, calib, MixRounding.Gptq, runner.SampleMemoryNow, ct));
            }
            GgufStreamingExport.Export(model, runner, t, outPath, protectedPaths: inputs, cancellationToken: ct, tensorQuantized: report is null ? null : report.Add,
                floatTensor: report is null ? null : report.AddFloat, encodedModelTensors: classifier);
        }
        else if (plan.HfFormat == "hf-awq") HfAwqExporter.Export(model, runner, grid, outPath, ct);
        else HfGptqExporter.Export(model, runner, grid, outPath, request.CheckpointFormat ?? "gptq", trueSequential: !opts.OriginalActivations, ct);
        string what = (plan.MixRounding != null ? (request.Pure ? $"{plan.FileType}, pure {LlamaCppFileTypeNames.DefaultType(plan.FileType)}" : plan.FileType.ToString())
                + (plan.Overrides is { } o ? $", {o}" : "")
                : plan.GgufType is { } gt ? gt.ToString() : $"{plan.HfFormat} {grid.Bits}-bit g{grid.GroupSize}{(grid.ActOrder ? " act-order" : "")}{(grid.Symmetric ? " sym" : " asym")}")
            + $", method {plan.MethodName}, {(calib == null ? "no calibration" : request.OriginalActivations ? "original activations" : "sequential")}";
        return new QuantizeResult
        {
            OutputPath = outPath, Description = what, LoadTime = loadTime, RotationTime = rotationTime, CalibrationTime = tokenizeTime, RunTime = sw.Elapsed,
            ClassifierTime = classifierTime, Report = runner.Report,
            CalibrationDescription = calib?.Description,
            Rotation = model.Rotation,
        };
    }

    /// <summary>
    /// Prepares the rotation of <paramref name="model"/> (docs/rotations.md): an architecture or input the rotation cannot
    /// handle, or a Hugging Face destination that cannot be written, is refused before the work. Only the embedding, head
    /// and final norm are rotated here, into a temporary file mapped for the run (page cache, not anonymous memory); the
    /// decoder layers are rotated one at a time by the layer-streaming run (<see cref="LayerwiseRotation.LayerTransform"/>),
    /// and the log says so.
    /// </summary>
    private static LayerwiseRotation Rotate(QuantizeRequest request, QuantizePlan plan, LlamaModel model, RotationOptions options, string outPath, CancellationToken ct)
    {
        ModelRotation.ThrowIfUnsupported(model);
        if (plan.HfFormat != null) HfFolderOutput.CheckDestination(model.Origin, outPath);
        var sw = Stopwatch.StartNew();
        var rotated = LayerwiseRotation.Prepare(model, options, request.OnInfo is { } info ? note => info("rotation: " + note) : null, cancellationToken: ct);
        request.OnInfo?.Invoke($"rotation: embedding, head and final norm rotated in {sw.Elapsed.TotalSeconds:F1} s into a mapped temporary file "
            + $"({rotated.MappedBytes / (1024.0 * 1024):F1} MiB of fp32); each decoder layer is rotated when the run reaches it and dropped with it");
        return rotated;
    }

    /// <summary>
    /// A method into a named mix: each linear in the type llama.cpp plans for it (as with an importance matrix, which the
    /// calibration gives), rounded as <paramref name="rounding"/> says; AWQ searches its scales with the same per-tensor
    /// types, clipping in groups of the mix's main block size.
    /// </summary>
    private static (ILinearQuantizer, IReadOnlyList<ILayerTransform>) MixQuantizer(QuantizePlan plan, LlamaModel model, IReadOnlyDictionary<string, GgmlType> mixTypes,
        MixRounding rounding, Action<string>? warn)
    {
        var quantizer = new MixGgufLinearQuantizer(LlamaCppMixRecipe.LinearTypes(model, mixTypes), rounding, plan.Grid.Damping, warn);
        if (plan.MixAwq is not { } awq) return (quantizer, []);
        int groupSize = DTypeInfo.BlockSize(LlamaCppFileTypeNames.DefaultType(plan.FileType));
        return (quantizer, [new AwqLayerTransform(awq, quantizer.WithoutData, groupSize)]);
    }

    /// <summary>
    /// Runs the classifier's calibration (<paramref name="encode"/>) inside the run's memory measurement, which therefore
    /// starts before it (<see cref="LayerStreamingQuantizer.BeginMemoryMeasurement"/>; the forward's KV cache and hidden
    /// states, the rounding's slices and Hessian are sampled while live): its peak counts in the run's. Returns its bytes
    /// and its time, less the forced collections of the measurement (counted in the runner's report, as the layers' are).
    /// </summary>
    private static (Dictionary<string, byte[]>? Bytes, TimeSpan Time) MeasuredClassifier(LayerStreamingQuantizer runner, Func<Dictionary<string, byte[]>?> encode)
    {
        runner.BeginMemoryMeasurement();
        var collections = runner.Report.MeasurementCollections;
        long start = Stopwatch.GetTimestamp();
        var bytes = encode();
        return (bytes, Stopwatch.GetElapsedTime(start) - (runner.Report.MeasurementCollections - collections));
    }

    /// <summary>
    /// The classifier in its planned type, rounded with the statistics of its inputs on the calibration set
    /// (<see cref="ClassifierCalibration"/>); null where the plan gives it a float type.
    /// </summary>
    /// <remarks>
    /// A rotate+ run's <paramref name="model"/> has its embedding and head rotated but its layers are rotated one at a time
    /// by the run, so a whole-model forward of it would be wrong: the statistics then come from <paramref name="source"/>,
    /// whose RMS-normalised final states, rotated by R1, are the rotated head's inputs (its final norm is folded into it).
    /// </remarks>
    private static Dictionary<string, byte[]>? EncodeClassifier(QuantizeRequest request, QuantizePlan plan, IReadOnlyDictionary<string, GgmlType> mixTypes,
        LlamaModel source, LlamaModel model, LayerwiseRotation? rotation, CalibrationSet calib, MixRounding rounding, Action sampleMemory, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        string name = ClassifierCalibration.TensorName(model);
        var type = mixTypes[name];
        var stats = rotation is null
            ? ClassifierCalibration.Collect(model, calib, hessian: rounding == MixRounding.Gptq, ct, sampleMemory: sampleMemory)
            : ClassifierCalibration.Collect(source, calib, hessian: rounding == MixRounding.Gptq, ct, rotation.RotateResidualRows, sampleMemory);
        var collect = sw.Elapsed;
        var bytes = ClassifierCalibration.Encode(model, type, stats, rounding, plan.Grid.Damping, request.OnWarning, sampleMemory);
        if (bytes is null) return null;
        request.OnInfo?.Invoke($"classifier: {name} {type} rounded by {(rounding == MixRounding.Gptq ? "GPTQ" : "ggml's quantizer with importance")} on its calibration inputs in {sw.Elapsed.TotalSeconds:F1} s "
            + $"(whole-model forward and statistics {collect.TotalSeconds:F1} s, rounding {(sw.Elapsed - collect).TotalSeconds:F1} s)");
        return new Dictionary<string, byte[]>(StringComparer.Ordinal) { [name] = bytes };
    }

    /// <summary>
    /// Every input file of a run, for the writers' protected paths: the model (a file, or each file of a model
    /// folder) and the other inputs (tokenizer, imatrix, calibration text).
    /// </summary>
    public static List<string> Inputs(string model, params IEnumerable<string?> others)
    {
        var list = new List<string> { Path.GetFullPath(model) };
        if (Directory.Exists(model)) list.AddRange(Directory.GetFiles(model));
        foreach (var o in others)
            if (!string.IsNullOrEmpty(o)) list.Add(Path.GetFullPath(o));
        return list;
    }

    /// <summary>The engine reports (done, total) tuples; the public API reports <see cref="QuantizeProgress"/>.</summary>
    private sealed class ProgressAdapter(IProgress<QuantizeProgress> inner) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => inner.Report(new QuantizeProgress(value.Done, value.Total));
    }
}
