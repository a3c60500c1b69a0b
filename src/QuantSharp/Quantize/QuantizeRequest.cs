// Everything one quantization run needs, and every rule about which options go together (the CLI uses the same rules).
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp;

/// <summary>
/// A quantization run: either one of llama.cpp's named mixes (<see cref="Type"/>, optionally <see cref="Pure"/>
/// and an <see cref="Imatrix"/>) or a layer-streaming method (<see cref="Method"/> with <see cref="Format"/>,
/// grid options and calibration text). Unset nullable options take their documented defaults; an option that
/// the chosen method and format would ignore is an error, not a silent no-op.
/// <see cref="Validate"/> checks every rule before any work (the <c>quantsharp quantize</c> command calls it too)
/// and throws <see cref="QuantizeRequestException"/> naming the option.
/// </summary>
public sealed record QuantizeRequest
{
    /// <summary>Hugging Face GPTQ bit widths (what AutoGPTQ packs).</summary>
    private static readonly int[] HfGptqBits = [2, 3, 4, 8];

    /// <summary>The model to quantize: a Hugging Face folder, a .gguf file or a llama2.c checkpoint.</summary>
    public required string Model { get; init; }

    /// <summary>Output: a .gguf file (mixes, gguf:TYPE) or a folder (hf-gptq). Written atomically; never an input.</summary>
    public required string Output { get; init; }

    /// <summary>Tokenizer file when it is not beside the model (<c>--tokenizer</c>).</summary>
    public string? Tokenizer { get; init; }

    /// <summary>
    /// llama-quantize type name (<c>--type</c>), e.g. <c>Q4_K_M</c> or <c>Q4_0</c>: every tensor's type as llama.cpp chooses it.
    /// Alone: llama.cpp's quantizer (with <see cref="Imatrix"/> if given). With <see cref="Method"/> (and <see cref="Calibration"/>):
    /// the same types, each decoder-layer linear rounded by the method (GPTQ where it has the type's grid; elsewhere
    /// llama.cpp's quantizer with the calibration's importance matrix).
    /// </summary>
    public string? Type { get; init; }

    /// <summary>With <see cref="Type"/> (with or without <see cref="Method"/>): every 2-D weight in the type's default block type (<c>--pure</c>).</summary>
    public bool Pure { get; init; }

    /// <summary>
    /// With <see cref="Type"/> (with or without <see cref="Method"/>): llama-quantize's <c>--tensor-type PATTERN=TYPE</c>, in
    /// order: a tensor whose GGUF name the regular expression finds gets TYPE instead of the mix's choice (the first match
    /// wins; the row fallback still applies to TYPE; refused with <see cref="Pure"/>). A pattern that finds no tensor is an
    /// error. E.g. <c>attn_v=q6_k</c>, <c>blk\.[0-3]\.ffn_down=q5_k</c>.
    /// </summary>
    public IReadOnlyList<string> TensorTypes { get; init; } = [];

    /// <summary>With <see cref="Type"/>: token_embd.weight's block type (<c>--token-embedding-type</c>, e.g. q6_k), after every other rule.</summary>
    public string? TokenEmbeddingType { get; init; }

    /// <summary>With <see cref="Type"/>: output.weight's block type (<c>--output-tensor-type</c>); an error for a model whose classifier is the tied embedding.</summary>
    public string? OutputTensorType { get; init; }

    /// <summary>
    /// With <see cref="Method"/> into a named mix (<see cref="Type"/>), or a GPTQ method (gptq, awq+gptq, with or without
    /// rotate+) into a pure <c>--format gguf:T</c>: round the classifier (output.weight, or the tied token embedding) to
    /// nearest without statistics, as llama.cpp does (<c>--rtn-output</c>). By default it is rounded with the statistics of
    /// its inputs on the calibration set — GPTQ for a GPTQ method, importance-weighted otherwise (a mix only: rtn and awq
    /// into gguf:T round it to nearest) (docs/gptq.md: on sotu-llama-30m pure Q3_K this alone lowers the KL divergence by
    /// 11 %); after a rotation, with the rotated head's inputs.
    /// </summary>
    public bool RoundOutputToNearest { get; init; }

    /// <summary>With <see cref="Type"/> alone: an importance matrix file (<c>--imatrix</c>); a <see cref="Method"/> gathers its own from the calibration.</summary>
    public string? Imatrix { get; init; }

    /// <summary>Layer-streaming method (<c>--method</c>); needs <see cref="Format"/>, or <see cref="Type"/> for a llama.cpp mix.</summary>
    public QuantizeMethod? Method { get; init; }

    /// <summary>With <see cref="Method"/>: <c>gguf:TYPE</c> (e.g. <c>gguf:Q4_K</c>), <c>hf-gptq</c> or <c>hf-awq</c> (AutoAWQ's GEMM layout) (<c>--format</c>).</summary>
    public string? Format { get; init; }

    /// <summary>
    /// With <see cref="Method"/>: fold the norms and rotate the model (QuaRot/SpinQuant R1, and R2 unless
    /// <see cref="NoHeadRotation"/>; docs/rotations.md) as the method runs — <c>--method rotate+rtn|rotate+gptq|rotate+awq|rotate+awq+gptq</c>.
    /// Into every output the method supports; one decoder layer at a time (the embedding and head are rotated first, into a
    /// mapped temporary file), so the run's memory is the layer-streaming bound, as without the rotation. With
    /// <see cref="QuantizeMethod.NoRounding"/> (<c>--method rotate</c>): the rotation alone, into <c>gguf:F32|F16|BF16</c>.
    /// </summary>
    public bool Rotate { get; init; }

    /// <summary>With <see cref="Rotate"/>: seed of the random Hadamard signs (<c>--rotation-seed</c>; default 0, as <c>quantsharp rotate</c>).</summary>
    public ulong? RotationSeed { get; init; }

    /// <summary>With <see cref="Rotate"/>: skip R2, the per-value-head rotation (<c>--no-r2</c>).</summary>
    public bool NoHeadRotation { get; init; }

    /// <summary>hf-gptq: bits per weight, 2, 3, 4 or 8 (<c>--bits</c>; default 4).</summary>
    public int? Bits { get; init; }

    /// <summary>hf-gptq: columns per scale, 0 = per row (<c>--group-size</c>; default 128).</summary>
    public int? GroupSize { get; init; }

    /// <summary>hf-gptq: columns in order of decreasing activation magnitude (<c>--act-order</c>; needs calibration).</summary>
    public bool ActOrder { get; init; }

    /// <summary>hf-gptq with <see cref="ActOrder"/>: keep contiguous groups (<c>--static-groups</c>).</summary>
    public bool StaticGroups { get; init; }

    /// <summary>
    /// hf-gptq / hf-awq: symmetric grid (true, <c>--sym</c>) or asymmetric (false, <c>--asym</c>). Default: symmetric for
    /// hf-gptq, asymmetric for hf-awq (AutoAWQ's zero_point; a symmetric grid is stored there with zero points 8).
    /// </summary>
    public bool? Symmetric { get; init; }

    /// <summary>GPTQ into hf-gptq: search a shrunken range per group minimising the rounding error (<c>--mse</c>).</summary>
    public bool Mse { get; init; }

    /// <summary>GPTQ: dampening as a fraction of the mean Hessian diagonal, in (0, 1) (<c>--damp</c>; default 0.01).</summary>
    public double? Damping { get; init; }

    /// <summary>Calibration text files, UTF-8 (<c>--calib</c>).</summary>
    public IReadOnlyList<string> Calibration { get; init; } = [];

    /// <summary>Calibration segments (<c>--nsamples</c>; default 128).</summary>
    public int? Samples { get; init; }

    /// <summary>Tokens per calibration segment (<c>--seqlen</c>; default 2048 or the model's context if shorter).</summary>
    public int? SequenceLength { get; init; }

    /// <summary>Seed of the segment choice (<c>--seed</c>; default 0).</summary>
    public ulong? Seed { get; init; }

    /// <summary>Whole documents (truncated to the sequence length) instead of random segments (<c>--calib-documents</c>).</summary>
    public bool WholeDocuments { get; init; }

    /// <summary>Feed every layer the unquantized model's activations (<c>--original-activations</c>).</summary>
    public bool OriginalActivations { get; init; }

    /// <summary>Where calibration hidden states live between layers (<c>--activations</c>; default disk).</summary>
    public ActivationStorage? Activations { get; init; }

    /// <summary>hf-gptq: <c>gptq</c> (v1, zeros stored minus one, the default) or <c>gptq_v2</c> (<c>--checkpoint-format</c>).</summary>
    public string? CheckpointFormat { get; init; }

    /// <summary>AWQ: points of the scale-exponent grid α = i/N, i &lt; N (<c>--awq-grid</c>; default 20, AutoAWQ's).</summary>
    public int? AwqGrid { get; init; }

    /// <summary>AWQ: skip the weight clipping search (<c>--no-awq-clip</c>).</summary>
    public bool NoAwqClip { get; init; }

    /// <summary>AWQ: AutoAWQ's duo scaling s = mean|x|^α / mean|ŵ|^(1−α) instead of the paper's s = mean|x|^α (<c>--awq-duo-scaling</c>).</summary>
    public bool AwqDuoScaling { get; init; }

    /// <summary>
    /// A folder for the quantization report (<c>--report</c>): report.json (per tensor: role, layer, type, shape, bits per
    /// weight, relative weight error, relative output error on the calibration inputs where calibration ran, time; run
    /// totals) and, with <see cref="ReportCharts"/>, PNG charts of the errors by layer. It must not exist, be empty or hold
    /// only a previous report (which is replaced); it may not be the model folder, the output or hold an input. Each
    /// tensor is also logged to <see cref="OnInfo"/>. docs/quantization-report.md.
    /// </summary>
    public string? ReportDirectory { get; init; }

    /// <summary>
    /// Draws the report's PNG charts (e.g. <c>new ScottPlotReportChartRenderer()</c> from the QuantSharp.Reporting.Charts
    /// package, which <c>quantsharp quantize --report</c> uses); null: the report is report.json only, and
    /// <see cref="OnInfo"/> says so. Refused without <see cref="ReportDirectory"/> (there would be nothing to draw into).
    /// </summary>
    public IQuantizeReportChartRenderer? ReportCharts { get; init; }

    /// <summary>
    /// Measure the layer-streaming run's peak memory (<c>--measure-memory</c>; <see cref="QuantizeResult.Report"/>'s
    /// Memory): forces blocking collections during the run and restarts Linux's peak-RSS counter. Off: neither happens.
    /// </summary>
    public bool MeasurePeakMemory { get; init; }

    /// <summary>Threads and ISA for this run (<c>--threads</c>); null: the process defaults.</summary>
    public ExecutionOptions? Execution { get; init; }

    /// <summary>Receives warnings (e.g. a non-positive-definite Hessian damped further); null: ignored.</summary>
    public Action<string>? OnWarning { get; init; }

    /// <summary>Receives informational lines (e.g. the calibration set chosen); null: ignored.</summary>
    public Action<string>? OnInfo { get; init; }

    /// <summary>
    /// Checks every rule of method × format × options without reading the model. Throws
    /// <see cref="QuantizeRequestException"/> naming the first option at fault, <see cref="FileNotFoundException"/>
    /// for a missing input file.
    /// </summary>
    public void Validate() => Resolve();

    /// <summary>Validates and turns the request into the settings the run uses.</summary>
    internal QuantizePlan Resolve()
    {
        if (string.IsNullOrWhiteSpace(Model)) throw new QuantizeRequestException("model", nameof(Model), "the model path is empty");
        if (string.IsNullOrWhiteSpace(Output)) throw new QuantizeRequestException("--output", nameof(Output), "the output path is empty");
        if (!File.Exists(Model) && !Directory.Exists(Model)) throw new FileNotFoundException($"{Path.GetFullPath(Model)}: model not found");
        if (Tokenizer != null && !File.Exists(Tokenizer)) throw new FileNotFoundException($"--tokenizer {Path.GetFullPath(Tokenizer)}: file not found");
        if (ReportDirectory != null) QuantizeReportDirectory.Check(ReportDirectory, Model, Output, [Tokenizer, Imatrix, .. Calibration]);
        if (ReportCharts != null && ReportDirectory == null)
            throw new QuantizeRequestException("--report", nameof(ReportCharts), "a chart renderer is given but no report folder (ReportDirectory) to draw into");
        try { Execution?.Validate(); }
        catch (ArgumentOutOfRangeException ex) { throw new QuantizeRequestException("--threads", nameof(Execution), ex.Message.Split(Environment.NewLine)[0]); }
        ResolveRotationOptions();
        if (Method is { } method && Type != null) return WithRotation(ResolveMixMethod(method)) with { Overrides = ResolveOverrides() };
        RejectIfSet(RoundOutputToNearest && !CalibratesPureClassifier, "--rtn-output", nameof(RoundOutputToNearest),
            Method is null ? "--rtn-output goes with --method into a --type mix; --type alone rounds every tensor to nearest already"
                : $"--rtn-output goes with --type MIX or a GPTQ method into --format gguf:T; --method {WrittenMethodName(Method.Value)} --format {Format ?? "…"} writes the classifier without calibration");
        if (Method is null) return ResolveMix() with { Overrides = ResolveOverrides() };
        RejectOverrides($"goes with --type MIX; --method {WrittenMethodName(Method.Value)} --format {Format ?? "…"} writes the format's own types");
        return WithRotation(ResolveMethod(Method.Value));
    }

    /// <summary>The per-tensor type overrides of a mix, parsed; null when none is given.</summary>
    private TensorTypeOverrides? ResolveOverrides()
    {
        RejectIfSet(Pure && TensorTypes.Count > 0, "--tensor-type", nameof(TensorTypes),
            "--pure gives every tensor the type's one block type; llama-quantize ignores --tensor-type there (--token-embedding-type and --output-tensor-type still apply)");
        var list = new List<TensorTypeOverride>();
        foreach (var spec in TensorTypes)
        {
            try { list.Add(TensorTypeOverrides.ParseTensorType(spec)); }
            catch (FormatException e) { throw new QuantizeRequestException("--tensor-type", nameof(TensorTypes), e.Message); }
        }
        var overrides = new TensorTypeOverrides
        {
            TensorTypes = list,
            TokenEmbeddingType = ParseOverrideType(TokenEmbeddingType, "--token-embedding-type", nameof(TokenEmbeddingType)),
            OutputTensorType = ParseOverrideType(OutputTensorType, "--output-tensor-type", nameof(OutputTensorType)),
        };
        return overrides.IsEmpty ? null : overrides;
    }

    private static Formats.Gguf.GgmlType? ParseOverrideType(string? name, string option, string property)
    {
        if (name is null) return null;
        try { return TensorTypeOverrides.ParseType(name); }
        catch (FormatException e) { throw new QuantizeRequestException(option, property, e.Message); }
    }

    private void RejectOverrides(string why)
    {
        RejectIfSet(TensorTypes.Count > 0, "--tensor-type", nameof(TensorTypes), why);
        RejectIfSet(TokenEmbeddingType != null, "--token-embedding-type", nameof(TokenEmbeddingType), why);
        RejectIfSet(OutputTensorType != null, "--output-tensor-type", nameof(OutputTensorType), why);
    }

    /// <summary>The rotation options go with a rotate+ method only: alone they would be ignored.</summary>
    private void ResolveRotationOptions()
    {
        if (Rotate)
        {
            RejectIfSet(Method is null, "--method", nameof(Rotate),
                "the rotation composes with a method: --method rotate+rtn|rotate+gptq|rotate+awq|rotate+awq+gptq (`quantsharp rotate` writes a rotated folder)");
            return;
        }
        RejectIfSet(Method == QuantizeMethod.NoRounding, "--method", nameof(Method),
            $"{nameof(QuantizeMethod)}.{nameof(QuantizeMethod.NoRounding)} writes the weights as a rotation leaves them: it needs {nameof(Rotate)} (--method rotate); a float GGUF of the model as it is: quantsharp convert MODEL --outtype f32|f16|bf16");
        string why = Method is { } m ? $"is a rotation option: it needs --method rotate+{MethodName(m)} (got --method {MethodName(m)})"
            : "is a rotation option: it needs --method rotate+rtn|rotate+gptq|rotate+awq|rotate+awq+gptq";
        RejectIfSet(RotationSeed != null, "--rotation-seed", nameof(RotationSeed), "--rotation-seed " + why);
        RejectIfSet(NoHeadRotation, "--no-r2", nameof(NoHeadRotation), "--no-r2 " + why);
    }

    /// <summary>The method as the user wrote it, "rotate+" included when <see cref="Rotate"/> is set (for messages).</summary>
    public string WrittenMethodName(QuantizeMethod method) =>
        method == QuantizeMethod.NoRounding ? (Rotate ? "rotate" : MethodName(method)) : (Rotate ? "rotate+" : "") + MethodName(method);

    private QuantizePlan WithRotation(QuantizePlan plan) => !Rotate ? plan : plan with
    {
        // Threads 0: the run's ExecutionOptions scope decides (the rotation's bytes do not depend on it).
        Rotation = new RotationOptions { Seed = RotationSeed ?? 0, HeadRotation = !NoHeadRotation },
    };

    /// <summary>The named mixes a calibrated method can round into (every one; GPTQ needs its default type, <see cref="ResolveMixMethod"/>).</summary>
    private QuantizePlan ResolveMixMethod(QuantizeMethod method)
    {
        if (!Enum.IsDefined(method)) throw new QuantizeRequestException("--method", nameof(Method), $"'{method}' is not one of rtn, gptq, awq, awq+gptq");
        string m = WrittenMethodName(method);
        bool awq = method is QuantizeMethod.Awq or QuantizeMethod.AwqGptq;
        bool gptq = method is QuantizeMethod.Gptq or QuantizeMethod.AwqGptq;
        // A mix rounds every tensor: a method that rounds nothing cannot fill it.
        RejectIfSet(method == QuantizeMethod.NoRounding, "--method", nameof(Method),
            $"--method {m} --type {Type}: {m} alone rounds nothing (it writes {FloatFormats}); to quantize into the {Type} mix after the rotation use --method rotate+rtn (llama.cpp's quantizer with the calibration's importance matrix), rotate+gptq, rotate+awq or rotate+awq+gptq");
        var fileType = LlamaCppFileTypeNames.TryParse(Type)
            ?? throw new QuantizeRequestException("--type", nameof(Type), $"unknown type '{Type}'; choose one of {string.Join(", ", LlamaCppFileTypeNames.Names)}");
        // The mix fixes every tensor's type: a second output format, a second importance matrix or a grid option would
        // be dropped silently.
        RejectIfSet(Format != null, "--format", nameof(Format), $"--type {fileType} fixes every tensor's type; --format gguf:TYPE|hf-gptq goes with --method alone");
        RejectIfSet(Imatrix != null, "--imatrix", nameof(Imatrix), $"--method {m} with --type {fileType} gathers its importance matrix from --calib; drop --imatrix");
        string why = $"--type {fileType} fixes the bits, groups and scales of every tensor; this option is for --method {m} --format hf-gptq";
        RejectIfSet(Bits != null, "--bits", nameof(Bits), why);
        RejectIfSet(GroupSize != null, "--group-size", nameof(GroupSize), why);
        RejectIfSet(ActOrder, "--act-order", nameof(ActOrder), $"GPTQ into --type {fileType}'s blocks processes columns in block order; act-order is for --format hf-gptq");
        RejectIfSet(StaticGroups, "--static-groups", nameof(StaticGroups), why);
        RejectIfSet(Symmetric != null, Symmetric == false ? "--asym" : "--sym", nameof(Symmetric), why);
        RejectIfSet(Mse, "--mse", nameof(Mse), $"--type {fileType}'s blocks use ggml's scale searches; --mse is for --format hf-gptq");
        RejectIfSet(CheckpointFormat != null, "--checkpoint-format", nameof(CheckpointFormat), "goes with --format hf-gptq");
        if (!awq)
        {
            RejectIfSet(AwqGrid != null, "--awq-grid", nameof(AwqGrid), $"--awq-grid is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
            RejectIfSet(NoAwqClip, "--no-awq-clip", nameof(NoAwqClip), $"--no-awq-clip is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
            RejectIfSet(AwqDuoScaling, "--awq-duo-scaling", nameof(AwqDuoScaling), $"--awq-duo-scaling is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
        }
        else if (AwqGrid is < 1) throw new QuantizeRequestException("--awq-grid", nameof(AwqGrid), $"--awq-grid must be ≥ 1, got {AwqGrid}");
        RejectIfSet(Damping != null && !gptq, "--damp", nameof(Damping), $"dampening is a GPTQ setting; --method {m} has no Hessian");
        if (Damping is { } d && !(d > 0 && d < 1)) throw new QuantizeRequestException("--damp", nameof(Damping), $"dampening must be in (0, 1), got {d}");
        // GPTQ into a mix whose main type it has no grid for would round (nearly) every tensor to nearest: say so instead.
        var main = LlamaCppFileTypeNames.DefaultType(fileType);
        if (gptq && !GptqBlockQuantizer.Supports(main))
            throw new QuantizeRequestException("--type", nameof(Type),
                $"--type {fileType} with --method {m}: GPTQ rounds into {string.Join(", ", GptqBlockQuantizer.SupportedTypes)}, not {main}; choose one of {string.Join(", ", GptqMixes)}, or --method {(awq ? "awq" : "rtn")} for llama.cpp's quantizer with the calibration's importance matrix");
        if (Activations is { } a && !Enum.IsDefined(a)) throw new QuantizeRequestException("--activations", nameof(Activations), $"'{a}' is not disk or memory");
        if (Calibration.Count == 0)
            throw new QuantizeRequestException("--calib", nameof(Calibration),
                $"--method {m} with --type {fileType} needs calibration text: pass --calib FILE (it gives the method its statistics and the mix its importance matrix; --type {fileType} alone quantizes without)");
        foreach (var f in Calibration)
            if (!File.Exists(f)) throw new FileNotFoundException($"--calib {Path.GetFullPath(f)}: calibration text not found");
        if (Samples is < 1) throw new QuantizeRequestException("--nsamples", nameof(Samples), $"must be ≥ 1, got {Samples}");
        if (SequenceLength is < 2) throw new QuantizeRequestException("--seqlen", nameof(SequenceLength), $"must be ≥ 2, got {SequenceLength}");
        return new QuantizePlan
        {
            FileType = fileType,
            Method = method,
            MethodName = m,
            Grid = new GptqOptions { Damping = Damping ?? 0.01 },
            MixRounding = gptq ? MixRounding.Gptq : MixRounding.Importance,
            MixAwq = awq ? new AwqOptions { Grid = AwqGrid ?? 20, Clip = !NoAwqClip, DuoScaling = AwqDuoScaling } : null,
        };
    }

    /// <summary>
    /// A GPTQ method (gptq, awq+gptq) into a pure <c>--format gguf:T</c>: the classifier is rounded by GPTQ with its own
    /// calibration inputs, as in a mix (unless <see cref="RoundOutputToNearest"/>).
    /// </summary>
    internal bool CalibratesPureClassifier =>
        Method is QuantizeMethod.Gptq or QuantizeMethod.AwqGptq && Type is null && Format is { } f && f.StartsWith("gguf:", StringComparison.OrdinalIgnoreCase);

    /// <summary>The named mixes GPTQ rounds into: those whose main block type it has a grid for.</summary>
    private static IEnumerable<LlamaCppFileType> GptqMixes =>
        LlamaCppFileTypeNames.All.Where(t => GptqBlockQuantizer.Supports(LlamaCppFileTypeNames.DefaultType(t)));

    private QuantizePlan ResolveMix()
    {
        if (Type is null)
        {
            RejectOverrides("is a change to a llama.cpp mix: it needs --type MIX (e.g. --type Q3_K_M --token-embedding-type q6_k)");
            throw new QuantizeRequestException("--type", nameof(Type), "quantize needs --type NAME (llama.cpp mix, e.g. Q4_K_M) or --method rtn|gptq|awq|awq+gptq");
        }
        // A method option next to --type would be silently ignored: the mix fixes every tensor's block type.
        RejectIfSet(Format != null, "--format", nameof(Format), "goes with --method; --type NAME writes a GGUF of that mix");
        RejectMethodOnly("--type");
        RejectCalibration("--type NAME quantizes without calibration text (give an importance matrix with --imatrix)");
        var fileType = LlamaCppFileTypeNames.TryParse(Type)
            ?? throw new QuantizeRequestException("--type", nameof(Type), $"unknown type '{Type}'; choose one of {string.Join(", ", LlamaCppFileTypeNames.Names)}");
        if (Imatrix != null && !File.Exists(Imatrix)) throw new FileNotFoundException($"--imatrix {Path.GetFullPath(Imatrix)}: file not found");
        return new QuantizePlan { FileType = fileType };
    }

    private QuantizePlan ResolveMethod(QuantizeMethod method)
    {
        if (!Enum.IsDefined(method)) throw new QuantizeRequestException("--method", nameof(Method), $"'{method}' is not one of rtn, gptq, awq, awq+gptq");
        string m = WrittenMethodName(method);
        bool awq = method is QuantizeMethod.Awq or QuantizeMethod.AwqGptq;
        bool noRounding = method == QuantizeMethod.NoRounding;
        // The quantizer after the transforms: AWQ's own rounding is RTN or GPTQ.
        var rounding = method switch { QuantizeMethod.Awq => QuantizeMethod.Rtn, QuantizeMethod.AwqGptq => QuantizeMethod.Gptq, _ => method };
        if (!awq)
        {
            RejectIfSet(AwqGrid != null, "--awq-grid", nameof(AwqGrid), $"--awq-grid is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
            RejectIfSet(NoAwqClip, "--no-awq-clip", nameof(NoAwqClip), $"--no-awq-clip is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
            RejectIfSet(AwqDuoScaling, "--awq-duo-scaling", nameof(AwqDuoScaling), $"--awq-duo-scaling is an AWQ option: it needs --method awq or awq+gptq (got --method {m})");
        }
        else
        {
            RejectIfSet(ActOrder, "--act-order", nameof(ActOrder), $"--act-order is not supported with --method {m}: AWQ searches its scales on contiguous groups; drop --act-order");
            RejectIfSet(Mse, "--mse", nameof(Mse), $"--mse is not supported with --method {m}: AWQ's own clipping search shrinks the ranges (--no-awq-clip turns it off)");
            if (AwqGrid is < 1) throw new QuantizeRequestException("--awq-grid", nameof(AwqGrid), $"--awq-grid must be ≥ 1, got {AwqGrid}");
        }
        RejectIfSet(Pure, "--pure", nameof(Pure), "--pure goes with --type; --method --format gguf:TYPE already writes one block type");
        RejectIfSet(Imatrix != null, "--imatrix", nameof(Imatrix), "--imatrix goes with --type alone; --method gathers its statistics from --calib");
        if (Format is null)
            throw new QuantizeRequestException("--format", nameof(Format), noRounding ? $"--method {m} needs --format {FloatFormats}" : $"--method {m} needs --format gguf:TYPE, hf-gptq or hf-awq");

        DType? ggufType = null;
        if (Format.StartsWith("gguf:", StringComparison.OrdinalIgnoreCase))
        {
            string tn = Format[5..];
            bool known = Enum.TryParse<DType>(tn, ignoreCase: true, out var t) && !int.TryParse(tn, out _);
            bool isFloat = known && Array.IndexOf(FloatGgufLinearQuantizer.SupportedTypes, t) >= 0;
            // A float type stores the weights unrounded: meaningful after a transform with no rounding (--method rotate),
            // never as the target of a rounding method, which would be silently dropped.
            if (isFloat && !noRounding)
                throw new QuantizeRequestException("--format", nameof(Format),
                    $"--method {m} --format gguf:{t}: {m} rounds weights into a block type, and {t} stores them unrounded; into {FloatFormats} the accepted method is "
                    + (Rotate ? "rotate (the rotation alone: a rotated float GGUF that llama-quantize can then quantize)"
                        : "rotate (a rotated float GGUF that llama-quantize can then quantize); the model as it is: quantsharp convert MODEL --outtype " + t.ToString().ToLowerInvariant())
                    + $"; --method {m} rounds into {string.Join(", ", rounding == QuantizeMethod.Gptq ? GptqBlockQuantizer.SupportedTypes : PureGgufRecipe.SupportedTypes)}");
            if (noRounding && !isFloat)
                throw new QuantizeRequestException("--format", nameof(Format),
                    $"--method {m} --format {Format}: {m} alone rounds nothing, so it writes {FloatFormats}; to round the rotated weights into {tn} use --method rotate+rtn, rotate+gptq, rotate+awq or rotate+awq+gptq");
            if (!known || (!isFloat && Array.IndexOf(PureGgufRecipe.SupportedTypes, t) < 0))
                throw new QuantizeRequestException("--format", nameof(Format), $"gguf:{tn}: type not supported; choose one of {string.Join(", ", PureGgufRecipe.SupportedTypes)}");
            if (rounding == QuantizeMethod.Gptq && !GptqBlockQuantizer.Supports(t))
                throw new QuantizeRequestException("--format", nameof(Format), $"--method gptq --format gguf:{t}: GPTQ onto GGUF blocks supports {string.Join(", ", GptqBlockQuantizer.SupportedTypes)}");
            ggufType = t;
            // The block type fixes bits, grouping, symmetry and scale search: these options would be dropped.
            string why = $"gguf:{t} fixes the bits, groups and scales of its blocks; this option is for --format hf-gptq";
            RejectIfSet(Bits != null, "--bits", nameof(Bits), why);
            RejectIfSet(GroupSize != null, "--group-size", nameof(GroupSize), why);
            RejectIfSet(ActOrder, "--act-order", nameof(ActOrder), $"GPTQ/RTN into {Format} processes columns in block order; act-order is for --format hf-gptq");
            RejectIfSet(StaticGroups, "--static-groups", nameof(StaticGroups), why);
            RejectIfSet(Symmetric != null, Symmetric == false ? "--asym" : "--sym", nameof(Symmetric), why);
            RejectIfSet(Mse, "--mse", nameof(Mse), $"gguf:{t} uses its own scale search (ggml's); --mse is for --format hf-gptq");
            RejectIfSet(CheckpointFormat != null, "--checkpoint-format", nameof(CheckpointFormat), "goes with --format hf-gptq");
        }
        else if (!Format.Equals("hf-gptq", StringComparison.Ordinal) && !Format.Equals("hf-awq", StringComparison.Ordinal))
            throw new QuantizeRequestException("--format", nameof(Format), noRounding ? $"--method {m} needs --format {FloatFormats}, not '{Format}'" : $"'{Format}' is not gguf:TYPE, hf-gptq or hf-awq");
        else if (noRounding)
            throw new QuantizeRequestException("--format", nameof(Format),
                $"--method {m} --format {Format}: {Format} stores rounded integers and {m} alone rounds nothing; write {FloatFormats}, a rotated float folder with quantsharp rotate MODEL --out DIR, or round with --method rotate+rtn, rotate+gptq, rotate+awq or rotate+awq+gptq");
        else if (Format == "hf-awq")
        {
            // AutoAWQ's GEMM layout: 4-bit, contiguous groups (no g_idx), zero points always stored.
            if (Bits is { } b && b != 4)
                throw new QuantizeRequestException("--bits", nameof(Bits), $"the Hugging Face AWQ (GEMM) format packs 4 bits only, not {b}; use --format hf-gptq for {b} bits");
            if (GroupSize is < 0) throw new QuantizeRequestException("--group-size", nameof(GroupSize), $"must be ≥ 0 (0 = one group per row), got {GroupSize}");
            RejectIfSet(ActOrder, "--act-order", nameof(ActOrder), "the Hugging Face AWQ format has no g_idx (groups are contiguous); use --format hf-gptq for act-order");
            RejectIfSet(StaticGroups, "--static-groups", nameof(StaticGroups), "goes with --act-order, which --format hf-awq cannot store");
            RejectIfSet(CheckpointFormat != null, "--checkpoint-format", nameof(CheckpointFormat), "goes with --format hf-gptq (AWQ stores its zero points as they are)");
            RejectIfSet(Mse && rounding == QuantizeMethod.Rtn, "--mse", nameof(Mse), "--method rtn rounds plain min/max ranges; the MSE range search is implemented for --method gptq");
        }
        else
        {
            if (Bits is { } b && Array.IndexOf(HfGptqBits, b) < 0)
                throw new QuantizeRequestException("--bits", nameof(Bits), $"the Hugging Face GPTQ format packs 2, 3, 4 or 8 bits, not {b}");
            if (GroupSize is < 0) throw new QuantizeRequestException("--group-size", nameof(GroupSize), $"must be ≥ 0 (0 = one group per row), got {GroupSize}");
            if (StaticGroups && !ActOrder) throw new QuantizeRequestException("--static-groups", nameof(StaticGroups), "only changes anything with --act-order");
            if (StaticGroups && GroupSize == 0) throw new QuantizeRequestException("--static-groups", nameof(StaticGroups), "static groups need a group size (--group-size > 0)");
            if (CheckpointFormat is not (null or "gptq" or "gptq_v2"))
                throw new QuantizeRequestException("--checkpoint-format", nameof(CheckpointFormat), $"'{CheckpointFormat}' is not gptq or gptq_v2");
            // RTN rounds each group's min/max: without this rule --mse would silently do plain min/max.
            RejectIfSet(Mse && rounding == QuantizeMethod.Rtn, "--mse", nameof(Mse), "--method rtn rounds plain min/max ranges; the MSE range search is implemented for --method gptq");
        }
        RejectIfSet(Damping != null && rounding is QuantizeMethod.Rtn or QuantizeMethod.NoRounding, "--damp", nameof(Damping), $"dampening is a GPTQ setting; --method {m} has no Hessian");
        // Nothing to calibrate: the text would only be read and tokenized.
        RejectIfSet(noRounding && Calibration.Count > 0, "--calib", nameof(Calibration), $"--method {m} rounds nothing and reads no calibration text; drop --calib");
        if (Damping is { } d && !(d > 0 && d < 1)) throw new QuantizeRequestException("--damp", nameof(Damping), $"dampening must be in (0, 1), got {d}");
        if (Activations is { } a && !Enum.IsDefined(a)) throw new QuantizeRequestException("--activations", nameof(Activations), $"'{a}' is not disk or memory");

        var grid = new GptqOptions
        {
            Bits = Bits ?? 4,
            GroupSize = GroupSize ?? 128,
            Symmetric = Symmetric ?? Format != "hf-awq",
            ActOrder = ActOrder,
            StaticGroups = StaticGroups,
            Damping = Damping ?? 0.01,
            MseClip = Mse,
        };
        try { grid.Validate(); }
        catch (ArgumentOutOfRangeException ex) { throw new QuantizeRequestException(CliName(ex.ParamName), ex.ParamName ?? "?", ex.Message.Split(Environment.NewLine)[0]); }
        ILinearQuantizer quantizer = (rounding, ggufType) switch
        {
            (QuantizeMethod.NoRounding, { } t) => new FloatGgufLinearQuantizer(t),
            (QuantizeMethod.Rtn, { } t) => new RtnGgufLinearQuantizer(t),
            (QuantizeMethod.Rtn, null) => new RtnLinearQuantizer(grid),
            (QuantizeMethod.Gptq, { } t) => new GptqGgufLinearQuantizer(new GptqBlockOptions { Type = t, Damping = grid.Damping }, Warn),
            _ => new GptqLinearQuantizer(grid, Warn),
        };

        IReadOnlyList<ILayerTransform> transforms = [];
        if (awq)
        {
            // AWQ searches with the quantizer's own grid, data-free (GPTQ's grid without error feedback, or the GGUF
            // block type), grouped as the output is.
            var options = new AwqOptions { Grid = AwqGrid ?? 20, Clip = !NoAwqClip, DuoScaling = AwqDuoScaling };
            int groupSize = ggufType is { } gt ? DTypeInfo.BlockSize(gt) : grid.GroupSize;
            transforms = [new AwqLayerTransform(options, quantizer.WithoutData, groupSize)];
        }

        if (Calibration.Count == 0)
        {
            if (quantizer.Needs != StatisticsNeeds.None || transforms.Any(t => t.NeedsCalibration))
                throw new QuantizeRequestException("--calib", nameof(Calibration), $"--method {m} with these settings needs calibration data: pass --calib FILE");
            RejectCalibration($"--method {m} without --calib uses no calibration text");
        }
        else
        {
            foreach (var f in Calibration)
                if (!File.Exists(f)) throw new FileNotFoundException($"--calib {Path.GetFullPath(f)}: calibration text not found");
            if (Samples is < 1) throw new QuantizeRequestException("--nsamples", nameof(Samples), $"must be ≥ 1, got {Samples}");
            if (SequenceLength is < 2) throw new QuantizeRequestException("--seqlen", nameof(SequenceLength), $"must be ≥ 2, got {SequenceLength}");
        }
        return new QuantizePlan { Method = method, MethodName = m, GgufType = ggufType, HfFormat = ggufType is null ? Format : null, Grid = grid, Quantizer = quantizer, Transforms = transforms };
    }

    /// <summary>The outputs of a method that rounds nothing (<see cref="QuantizeMethod.NoRounding"/>).</summary>
    private const string FloatFormats = "gguf:F32, gguf:F16 or gguf:BF16";

    /// <summary>A method's name on the command line ("rtn", "gptq", "awq", "awq+gptq").</summary>
    public static string MethodName(QuantizeMethod method) => method switch
    {
        QuantizeMethod.Rtn => "rtn",
        QuantizeMethod.Gptq => "gptq",
        QuantizeMethod.Awq => "awq",
        QuantizeMethod.AwqGptq => "awq+gptq",
        QuantizeMethod.NoRounding => "none",
        _ => method.ToString(),
    };

    private void Warn(string message) => OnWarning?.Invoke(message);

    /// <summary>Options that only the layer-streaming methods read.</summary>
    private void RejectMethodOnly(string context)
    {
        string why = $"is an option of --method rtn|gptq|awq|awq+gptq; {context} NAME fixes every tensor's block type";
        RejectIfSet(Bits != null, "--bits", nameof(Bits), why);
        RejectIfSet(GroupSize != null, "--group-size", nameof(GroupSize), why);
        RejectIfSet(ActOrder, "--act-order", nameof(ActOrder), why);
        RejectIfSet(StaticGroups, "--static-groups", nameof(StaticGroups), why);
        RejectIfSet(Symmetric != null, Symmetric == false ? "--asym" : "--sym", nameof(Symmetric), why);
        RejectIfSet(Mse, "--mse", nameof(Mse), why);
        RejectIfSet(Damping != null, "--damp", nameof(Damping), why);
        RejectIfSet(CheckpointFormat != null, "--checkpoint-format", nameof(CheckpointFormat), why);
        RejectIfSet(AwqGrid != null, "--awq-grid", nameof(AwqGrid), why);
        RejectIfSet(NoAwqClip, "--no-awq-clip", nameof(NoAwqClip), why);
        RejectIfSet(AwqDuoScaling, "--awq-duo-scaling", nameof(AwqDuoScaling), why);
        RejectIfSet(MeasurePeakMemory, "--measure-memory", nameof(MeasurePeakMemory), $"measures the layer-streaming run of --method; {context} NAME quantizes tensor by tensor");
    }

    /// <summary>Calibration settings are errors when no calibration text is read.</summary>
    private void RejectCalibration(string why)
    {
        RejectIfSet(Calibration.Count > 0, "--calib", nameof(Calibration), why);
        RejectIfSet(Samples != null, "--nsamples", nameof(Samples), $"{why}; --nsamples goes with --calib");
        RejectIfSet(SequenceLength != null, "--seqlen", nameof(SequenceLength), $"{why}; --seqlen goes with --calib");
        RejectIfSet(Seed != null, "--seed", nameof(Seed), $"{why}; --seed goes with --calib");
        RejectIfSet(WholeDocuments, "--calib-documents", nameof(WholeDocuments), $"{why}; --calib-documents goes with --calib");
        RejectIfSet(OriginalActivations, "--original-activations", nameof(OriginalActivations), $"{why}; --original-activations goes with --calib");
        RejectIfSet(Activations != null, "--activations", nameof(Activations), $"{why}; --activations goes with --calib");
    }

    private static void RejectIfSet(bool isSet, string option, string property, string why)
    {
        if (isSet) throw new QuantizeRequestException(option, property, why);
    }

    private static string CliName(string? property) => property switch
    {
        nameof(GptqOptions.Bits) => "--bits",
        nameof(GptqOptions.GroupSize) => "--group-size",
        nameof(GptqOptions.Damping) => "--damp",
        nameof(GptqOptions.StaticGroups) => "--static-groups",
        _ => "--" + property?.ToLowerInvariant(),
    };
}
