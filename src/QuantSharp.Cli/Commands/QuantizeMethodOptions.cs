// quantsharp quantize --method rtn|gptq|awq|awq+gptq: the layer-streaming (calibrated) quantization options and their run.
using System.CommandLine;
using System.Diagnostics;
using QuantSharp.Core.IO;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Cli.Commands;

/// <summary>Options of the layer-streaming path of <c>quantize</c>, kept apart from the --type (whole-model) path.</summary>
internal sealed class QuantizeMethodOptions
{
    public Option<string?> Method { get; } = new("--method") { Description = "Layer-streaming quantization: rtn (round-to-nearest), gptq, awq (AWQ scaling + clipping, then RTN) or awq+gptq (AWQ, then GPTQ); then --format picks the output" };
    public Option<string?> Format { get; } = new("--format") { Description = "With --method: gguf:TYPE (e.g. gguf:Q4_K; gptq: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q8_0, IQ4_NL) or hf-gptq (a Hugging Face GPTQ folder)" };
    public Option<int> Bits { get; } = new("--bits") { Description = "hf-gptq: bits per weight (2, 3, 4, 8)", DefaultValueFactory = _ => 4 };
    public Option<int> GroupSize { get; } = new("--group-size") { Description = "hf-gptq: columns per scale (0 = one group per row)", DefaultValueFactory = _ => 128 };
    public Option<bool> ActOrder { get; } = new("--act-order") { Description = "Group columns in order of decreasing activation magnitude (desc_act; needs --calib)" };
    public Option<bool> StaticGroups { get; } = new("--static-groups") { Description = "With --act-order: keep contiguous groups" };
    public Option<bool> Sym { get; } = new("--sym") { Description = "Symmetric grid (default)" };
    public Option<bool> Asym { get; } = new("--asym") { Description = "Asymmetric grid (min/max with a zero point)" };
    public Option<bool> Mse { get; } = new("--mse") { Description = "hf-gptq: search a shrunken range per group minimising the rounding error (GPTQ's mse option)" };
    public Option<double> Damp { get; } = new("--damp") { Description = "GPTQ dampening, fraction of the mean Hessian diagonal", DefaultValueFactory = _ => 0.01 };
    public Option<string[]> Calib { get; } = new("--calib") { Description = "Calibration text file(s), UTF-8 (repeat for several)", AllowMultipleArgumentsPerToken = true };
    public Option<int> NSamples { get; } = new("--nsamples") { Description = "Calibration segments", DefaultValueFactory = _ => CalibrationSet.DefaultSamples };
    public Option<int?> SeqLen { get; } = new("--seqlen") { Description = "Tokens per segment (default 2048 or the model's context if shorter)" };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of the segment choice (xoshiro256**, see docs)", DefaultValueFactory = _ => 0UL };
    public Option<bool> Documents { get; } = new("--calib-documents") { Description = "Use whole documents (truncated to --seqlen) instead of random segments" };
    public Option<bool> OriginalActivations { get; } = new("--original-activations") { Description = "Feed every layer the unquantized model's activations (default: sequential, the quantized layers' outputs)" };
    public Option<string> Activations { get; } = new("--activations") { Description = "Where calibration hidden states live between layers: disk (temporary file) or memory", DefaultValueFactory = _ => "disk" };
    public Option<int?> AwqGrid { get; } = new("--awq-grid") { Description = "AWQ: points of the scale exponent grid α = i/N, i < N (default 20, AutoAWQ's)" };
    public Option<bool> NoAwqClip { get; } = new("--no-awq-clip") { Description = "AWQ: skip the weight clipping search" };
    public Option<bool> AwqDuoScaling { get; } = new("--awq-duo-scaling") { Description = "AWQ: AutoAWQ's duo_scaling, s = mean|x|^α / mean|ŵ|^(1−α) (default: the paper's s = mean|x|^α)" };
    public Option<string> CheckpointFormat { get; } = new("--checkpoint-format") { Description = "hf-gptq: gptq (v1, zeros stored minus one) or gptq_v2", DefaultValueFactory = _ => "gptq" };

    public QuantizeMethodOptions()
    {
        Method.AcceptOnlyFromAmong("rtn", "gptq", "awq", "awq+rtn", "awq+gptq");
        Activations.AcceptOnlyFromAmong("disk", "memory");
        CheckpointFormat.AcceptOnlyFromAmong("gptq", "gptq_v2");
    }

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Method, Format, Bits, GroupSize, ActOrder, StaticGroups, Sym, Asym, Damp, Mse, Calib, NSamples, SeqLen, Seed, Documents, OriginalActivations, Activations, CheckpointFormat, AwqGrid, NoAwqClip, AwqDuoScaling })
            cmd.Add(o);
    }

    /// <summary>The quantizer for --method/--format. GPTQ plugs in here (one line and its ILinearQuantizer class).</summary>
    private static ILinearQuantizer CreateQuantizer(string method, GptqOptions grid, DType? ggufType) => (method, ggufType) switch
    {
        ("rtn", { } t) => new RtnGgufLinearQuantizer(t),
        ("rtn", null) => new RtnLinearQuantizer(grid),
        ("gptq", { } t) => GptqBlockQuantizer.Supports(t)
            ? new GptqGgufLinearQuantizer(new GptqBlockOptions { Type = t, Damping = grid.Damping }, Warn)
            : throw new ArgumentException($"--method gptq --format gguf:{t}: GPTQ onto GGUF blocks supports {string.Join(", ", GptqBlockQuantizer.SupportedTypes)}"),
        ("gptq", null) => new GptqLinearQuantizer(grid, Warn),
        _ => throw new ArgumentException($"--method '{method}' is not one of rtn, gptq"),
    };

    private static void Warn(string message) => Console.Error.WriteLine($"warning: {message}");

    /// <summary>
    /// The transforms and the quantizer of a --method: "awq" and "awq+rtn" are AWQ then round-to-nearest, "awq+gptq" AWQ
    /// then GPTQ. AWQ searches with the quantizer's own grid (its data-free counterpart: GPTQ's grid without error
    /// feedback, or the GGUF block type), grouped as the output is. AWQ options without AWQ are an error, never ignored.
    /// </summary>
    private (string Quantizer, IReadOnlyList<ILayerTransform> Transforms) Pipeline(ParseResult r, string method, GptqOptions grid, DType? ggufType)
    {
        var parts = method.Split('+');
        bool awq = parts[0] == "awq";
        string quantizer = awq ? (parts.Length > 1 ? parts[1] : "rtn") : parts[0];
        if (!awq)
        {
            foreach (var (set, name) in new[] { (r.GetValue(AwqGrid) != null, "--awq-grid"), (r.GetValue(NoAwqClip), "--no-awq-clip"), (r.GetValue(AwqDuoScaling), "--awq-duo-scaling") })
                if (set) throw new ArgumentException($"{name} is an AWQ option: it needs --method awq or awq+gptq (got --method {method})");
            return (quantizer, []);
        }
        if (r.GetValue(ActOrder))
            throw new ArgumentException($"--act-order is not supported with --method {method}: AWQ searches its scales on contiguous groups; drop --act-order");
        if (r.GetValue(Mse))
            throw new ArgumentException($"--mse is not supported with --method {method}: AWQ's own clipping search shrinks the ranges (--no-awq-clip turns it off)");
        var options = new AwqOptions { Grid = r.GetValue(AwqGrid) ?? 20, Clip = !r.GetValue(NoAwqClip), DuoScaling = r.GetValue(AwqDuoScaling) };
        if (options.Grid < 1) throw new ArgumentException($"--awq-grid must be ≥ 1, got {options.Grid}");
        var searchGrid = CreateQuantizer(quantizer, grid, ggufType).WithoutData;
        int groupSize = ggufType is { } t ? DTypeInfo.BlockSize(t) : grid.GroupSize;
        return (quantizer, [new AwqLayerTransform(options, searchGrid, groupSize)]);
    }

    public int Run(ParseResult r, string modelPath, string? tokenizerPath, string outPath)
    {
        string method = r.GetValue(Method)!;
        string format = r.GetValue(Format) ?? throw new ArgumentException("--method needs --format gguf:TYPE or hf-gptq");
        DType? ggufType = null;
        if (format.StartsWith("gguf:", StringComparison.OrdinalIgnoreCase))
        {
            string tn = format[5..];
            if (!Enum.TryParse<DType>(tn, ignoreCase: true, out var t) || Array.IndexOf(PureGgufRecipe.SupportedTypes, t) < 0)
                throw new ArgumentException($"--format gguf:{tn}: type not supported; choose one of {string.Join(", ", PureGgufRecipe.SupportedTypes)}");
            ggufType = t;
        }
        else if (format != "hf-gptq") throw new ArgumentException($"--format '{format}' is not gguf:TYPE or hf-gptq");
        if (r.GetValue(Sym) && r.GetValue(Asym)) throw new ArgumentException("--sym and --asym contradict each other");
        var grid = new GptqOptions
        {
            Bits = r.GetValue(Bits),
            GroupSize = r.GetValue(GroupSize),
            Symmetric = !r.GetValue(Asym),
            ActOrder = r.GetValue(ActOrder),
            StaticGroups = r.GetValue(StaticGroups),
            Damping = r.GetValue(Damp),
            MseClip = r.GetValue(Mse),
        };
        try { grid.Validate(); }
        catch (ArgumentOutOfRangeException ex) { throw new ArgumentException($"--{ex.ParamName}: {ex.Message}"); }
        var (quantizerName, transforms) = Pipeline(r, method, grid, ggufType);
        var quantizer = CreateQuantizer(quantizerName, grid, ggufType);

        var files = r.GetValue(Calib) ?? [];
        // Every input is protected, not only the model: `--calib X -o X` must not replace the text.
        var inputs = CommonOptions.Inputs(modelPath, [tokenizerPath, .. files]);
        AtomicFile.ThrowIfProtected(outPath, inputs);
        // Activation files of killed runs, once ActivationStore names them quantsharp-activations-<pid>-<guid>
        // (older names carry no pid and are left alone).
        AtomicFile.SweepStaleIn(Path.GetTempPath(), "quantsharp-activations-");

        var sw = Stopwatch.StartNew();
        using var model = LlamaModel.Load(modelPath, tokenizerPath);
        var loadTime = sw.Elapsed;
        CalibrationSet? calib = null;
        TimeSpan tokenizeTime = default;
        if (files.Length > 0)
        {
            sw.Restart();
            var tok = model.Tokenizer ?? throw new InvalidDataException($"{model.Origin}: the model has no tokenizer; pass --tokenizer");
            int seqLen = r.GetValue(SeqLen) ?? Math.Min(CalibrationSet.DefaultSequenceLength, model.Parameters.ContextLength);
            if (seqLen > model.Parameters.ContextLength) throw new ArgumentException($"--seqlen {seqLen} exceeds the model's context of {model.Parameters.ContextLength}");
            int n = r.GetValue(NSamples);
            if (n < 1) throw new ArgumentException($"--nsamples must be ≥ 1, got {n}");
            if (seqLen < 2) throw new ArgumentException($"--seqlen must be ≥ 2, got {seqLen}");
            calib = r.GetValue(Documents)
                ? CalibrationSet.WholeDocuments(tok, files, n, seqLen, r.GetValue(Seed))
                : CalibrationSet.RandomSegments(tok, files, n, seqLen, r.GetValue(Seed));
            tokenizeTime = sw.Elapsed;
            Console.Error.WriteLine($"calibration: {calib.Description}");
        }
        else if (quantizer.Needs != StatisticsNeeds.None || transforms.Any(t => t.NeedsCalibration))
            throw new ArgumentException($"--method {method} with these settings needs calibration data: pass --calib FILE");

        sw.Restart();
        LayerStreamingQuantizer? runner = null;
        CommandRunner.WithProgress($"quantize ({method})", p =>
        {
            var opts = new LayerStreamingOptions
            {
                OriginalActivations = r.GetValue(OriginalActivations),
                Storage = r.GetValue(Activations) == "memory" ? ActivationStorage.Memory : ActivationStorage.Disk,
                Progress = p,
                Warn = Warn,
                Transforms = transforms,
                Log = m => Console.Error.WriteLine(m),
            };
            runner = new LayerStreamingQuantizer(model, quantizer, calib, opts);
            if (ggufType is { } t) GgufStreamingExport.Export(model, runner, t, outPath, protectedPaths: inputs, cancellationToken: CommandRunner.Cancellation);
            else HfGptqExporter.Export(model, runner, grid, outPath, r.GetValue(CheckpointFormat)!, trueSequential: !opts.OriginalActivations, CommandRunner.Cancellation);
            return 0;
        });
        var total = sw.Elapsed;
        var rep = runner!.Report;
        rep.Memory.Sample();
        const double MiB = 1024 * 1024;
        var write = total - rep.Embedding - rep.Transforms - rep.Forward - rep.Statistics - rep.Quantization;
        Console.WriteLine($"wrote {outPath} ({(ggufType is { } gt ? gt.ToString() : $"hf-gptq {grid.Bits}-bit g{grid.GroupSize}{(grid.ActOrder ? " act-order" : "")}{(grid.Symmetric ? " sym" : " asym")}")}, method {method}, {(calib == null ? "no calibration" : r.GetValue(OriginalActivations) ? "original activations" : "sequential")})");
        Console.WriteLine($"time: load {loadTime.TotalSeconds:F1} s, calibration text {tokenizeTime.TotalSeconds:F1} s, embed {rep.Embedding.TotalSeconds:F1} s, {(transforms.Count > 0 ? $"transforms {rep.Transforms.TotalSeconds:F1} s, " : "")}forward {rep.Forward.TotalSeconds:F1} s, statistics {rep.Statistics.TotalSeconds:F1} s, quantize {rep.Quantization.TotalSeconds:F1} s, write+other {write.TotalSeconds:F1} s, total {total.TotalSeconds:F1} s");
        Console.WriteLine($"memory: peak managed {rep.Memory.PeakManagedBytes / MiB:F1} MiB, peak anonymous RSS {rep.Memory.PeakAnonymousBytes / MiB:F1} MiB (run start {rep.BaselineAnonymousBytes / MiB:F1} MiB), peak RSS incl. mapped model {rep.Memory.PeakResidentBytes / MiB:F1} MiB; "
            + $"whole model in fp32 {rep.ModelFp32Bytes / MiB:F1} MiB + calibration activations {rep.ActivationBytes / MiB:F1} MiB ({rep.CalibrationTokens:N0} tokens) = {(rep.ModelFp32Bytes + rep.ActivationBytes) / MiB:F1} MiB");
        return 0;
    }
}
