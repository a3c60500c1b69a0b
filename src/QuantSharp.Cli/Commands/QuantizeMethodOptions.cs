// quantsharp quantize --method [rotate+]rtn|gptq|awq|awq+gptq|rotate: the layer-streaming (calibrated) quantization options, mapped onto a QuantizeRequest.
using System.CommandLine;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Cli.Commands;

/// <summary>Options of the layer-streaming path of <c>quantize</c>, kept apart from the --type (whole-model) path.</summary>
internal sealed class QuantizeMethodOptions
{
    public Option<string?> Method { get; } = new("--method") { Description = "Layer-streaming quantization: rtn (round-to-nearest), gptq, awq (AWQ scaling + clipping, then RTN; also awq+rtn) or awq+gptq (AWQ, then GPTQ), each also after a rotation (rotate+rtn, rotate+gptq, rotate+awq, rotate+awq+gptq: norms folded, R1/R2 Hadamard rotations fused into each layer as the run reaches it, docs/rotations.md); then --format picks the output, or --type MIX keeps llama.cpp's per-tensor types (e.g. --type Q4_K_M --method gptq). rotate alone rounds nothing: --format gguf:F32|F16|BF16 only (a rotated float GGUF for llama-quantize)" };
    public Option<string?> Format { get; } = new("--format") { Description = "With --method: gguf:TYPE (e.g. gguf:Q4_K; gptq: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q8_0, IQ4_NL; F32, F16, BF16 with --method rotate only) hf-gptq (a Hugging Face GPTQ folder) or hf-awq (a Hugging Face AWQ folder, AutoAWQ's GEMM layout, 4-bit)" };
    public Option<int?> Bits { get; } = new("--bits") { Description = "hf-gptq: bits per weight (2, 3, 4, 8; default 4)" };
    public Option<int?> GroupSize { get; } = new("--group-size") { Description = "hf-gptq: columns per scale (0 = one group per row; default 128)" };
    public Option<bool> ActOrder { get; } = new("--act-order") { Description = "hf-gptq: group columns in order of decreasing activation magnitude (desc_act; needs --calib)" };
    public Option<bool> StaticGroups { get; } = new("--static-groups") { Description = "With --act-order: keep contiguous groups" };
    public Option<bool> Sym { get; } = new("--sym") { Description = "hf-gptq, hf-awq: symmetric grid (default for hf-gptq)" };
    public Option<bool> Asym { get; } = new("--asym") { Description = "hf-gptq, hf-awq: asymmetric grid (min/max with a zero point; default for hf-awq)" };
    public Option<bool> Mse { get; } = new("--mse") { Description = "GPTQ into hf-gptq: search a shrunken range per group minimising the rounding error (GPTQ's mse option)" };
    public Option<double?> Damp { get; } = new("--damp") { Description = "GPTQ dampening, fraction of the mean Hessian diagonal (default 0.01)" };
    public Option<string[]> Calib { get; } = new("--calib") { Description = "Calibration text file(s), UTF-8 (repeat for several)", AllowMultipleArgumentsPerToken = true };
    public Option<int?> NSamples { get; } = new("--nsamples") { Description = $"Calibration segments (default {CalibrationSet.DefaultSamples})" };
    public Option<int?> SeqLen { get; } = new("--seqlen") { Description = "Tokens per segment (default 2048 or the model's context if shorter)" };
    public Option<ulong?> Seed { get; } = new("--seed") { Description = "Seed of the segment choice (xoshiro256**, see docs; default 0)" };
    public Option<bool> Documents { get; } = new("--calib-documents") { Description = "Use whole documents (truncated to --seqlen) instead of random segments" };
    public Option<bool> OriginalActivations { get; } = new("--original-activations") { Description = "Feed every layer the unquantized model's activations (default: sequential, the quantized layers' outputs)" };
    public Option<string?> Activations { get; } = new("--activations") { Description = "Where calibration hidden states live between layers: disk (temporary file, default) or memory" };
    public Option<int?> AwqGrid { get; } = new("--awq-grid") { Description = "AWQ: points of the scale exponent grid α = i/N, i < N (default 20, AutoAWQ's)" };
    public Option<bool> NoAwqClip { get; } = new("--no-awq-clip") { Description = "AWQ: skip the weight clipping search" };
    public Option<bool> AwqDuoScaling { get; } = new("--awq-duo-scaling") { Description = "AWQ: AutoAWQ's duo_scaling, s = mean|x|^α / mean|ŵ|^(1−α) (default: the paper's s = mean|x|^α)" };
    public Option<bool> MeasureMemory { get; } = new("--measure-memory") { Description = "Measure and print the run's peak memory (forces garbage collections during the run and restarts Linux's peak-RSS counter; off by default)" };
    public Option<ulong?> RotationSeed { get; } = new("--rotation-seed") { Description = "rotate+METHOD: seed of the random Hadamard signs (default 0, as `quantsharp rotate`)" };
    public Option<bool> NoR2 { get; } = new("--no-r2") { Description = "rotate+METHOD: do not rotate the value heads and o_proj columns (R2)" };
    public Option<bool> RtnOutput { get; } = new("--rtn-output") { Description = "With --method into a --type mix, or a GPTQ method into --format gguf:T: round the classifier (output.weight or the tied embedding) to nearest as llama.cpp does, instead of with its calibration inputs (GPTQ for gptq methods, importance-weighted otherwise; the default)" };
    public Option<string?> CheckpointFormat { get; } = new("--checkpoint-format") { Description = "hf-gptq: gptq (v1, zeros stored minus one; default) or gptq_v2" };

    private static readonly string[] Methods = ["rtn", "gptq", "awq", "awq+rtn", "awq+gptq"];
    private const string RotatePrefix = "rotate+";
    private const string RotateOnly = "rotate";

    public QuantizeMethodOptions()
    {
        // "rotate" alone: the rotation with no rounding (float GGUF types only, QuantizeRequest's rules).
        Method.AcceptOnlyFromAmong([.. Methods, .. Methods.Select(m => RotatePrefix + m), RotateOnly]);
        Activations.AcceptOnlyFromAmong("disk", "memory");
        CheckpointFormat.AcceptOnlyFromAmong("gptq", "gptq_v2");
    }

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Method, Format, Bits, GroupSize, ActOrder, StaticGroups, Sym, Asym, Damp, Mse, Calib, NSamples, SeqLen, Seed, Documents, OriginalActivations, Activations, CheckpointFormat, AwqGrid, NoAwqClip, AwqDuoScaling, MeasureMemory, RotationSeed, NoR2, RtnOutput })
            cmd.Add(o);
    }

    /// <summary>
    /// The method options of the command line as a <see cref="QuantizeRequest"/> field by field; unset options stay null
    /// so the request's rules (the library's, the same code) decide defaults and contradictions.
    /// </summary>
    public QuantizeRequest Apply(ParseResult r, QuantizeRequest request)
    {
        bool sym = r.GetValue(Sym), asym = r.GetValue(Asym);
        // The one rule the request cannot see: it has a single Symmetric field.
        if (sym && asym) throw new QuantizeRequestException("--asym", nameof(QuantizeRequest.Symmetric), "--sym and --asym contradict each other");
        string? method = r.GetValue(Method);
        bool rotateOnly = method == RotateOnly;
        bool rotate = rotateOnly || (method is not null && method.StartsWith(RotatePrefix, StringComparison.Ordinal));
        return request with
        {
            Rotate = rotate,
            RotationSeed = r.GetValue(RotationSeed),
            NoHeadRotation = r.GetValue(NoR2),
            RoundOutputToNearest = r.GetValue(RtnOutput),
            Method = (rotateOnly ? null : rotate ? method![RotatePrefix.Length..] : method) switch
            {
                null => rotateOnly ? QuantizeMethod.NoRounding : null,
                "rtn" => QuantizeMethod.Rtn,
                "gptq" => QuantizeMethod.Gptq,
                "awq" or "awq+rtn" => QuantizeMethod.Awq,
                _ => QuantizeMethod.AwqGptq,
            },
            Format = r.GetValue(Format),
            Bits = r.GetValue(Bits),
            GroupSize = r.GetValue(GroupSize),
            ActOrder = r.GetValue(ActOrder),
            StaticGroups = r.GetValue(StaticGroups),
            Symmetric = sym ? true : asym ? false : null,
            Mse = r.GetValue(Mse),
            Damping = r.GetValue(Damp),
            Calibration = r.GetValue(Calib) ?? [],
            Samples = r.GetValue(NSamples),
            SequenceLength = r.GetValue(SeqLen),
            Seed = r.GetValue(Seed),
            WholeDocuments = r.GetValue(Documents),
            OriginalActivations = r.GetValue(OriginalActivations),
            Activations = r.GetValue(Activations) switch { null => null, "memory" => ActivationStorage.Memory, _ => ActivationStorage.Disk },
            CheckpointFormat = r.GetValue(CheckpointFormat),
            AwqGrid = r.GetValue(AwqGrid),
            NoAwqClip = r.GetValue(NoAwqClip),
            AwqDuoScaling = r.GetValue(AwqDuoScaling),
            MeasurePeakMemory = r.GetValue(MeasureMemory),
        };
    }
}
