// Settings of a layer-streaming quantization run.
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Reporting;

namespace QuantSharp.Quantization.Streaming;

/// <summary>Settings of <see cref="LayerStreamingQuantizer"/>.</summary>
public sealed record LayerStreamingOptions
{
    /// <summary>
    /// Feed each layer the activations of the original (unquantized) model and collect every
    /// sub-layer's statistics from the original weights, instead of GPTQ's sequential mode where a
    /// layer's inputs come from the already quantized layers before it.
    /// </summary>
    public bool OriginalActivations { get; init; }

    /// <summary>Where the calibration hidden states are kept between layers.</summary>
    public ActivationStorage Storage { get; init; } = ActivationStorage.Disk;

    /// <summary>Folder of the temporary activation file (default: the system temp folder).</summary>
    public string? TemporaryDirectory { get; init; }

    /// <summary>Tokens per forward chunk (whole sequences; a longer sequence makes a chunk on its own).</summary>
    public int ChunkTokens { get; init; } = 512;

    /// <summary>Also receives every calibration activation (importance matrices, K/V statistics, ...).</summary>
    public ICalibrationObserver? Observer { get; init; }

    /// <summary>
    /// Experts whose statistics are collected in one pass over the calibration data (a mixture of experts): the
    /// Hessians of that many experts are held at once. Null: as many as fit in <see cref="ExpertStatisticsBudgetBytes"/>.
    /// The result does not depend on it.
    /// </summary>
    public int? ExpertsPerPass { get; init; }

    /// <summary>Memory for the experts' statistics of one pass when <see cref="ExpertsPerPass"/> is null (at least one expert).</summary>
    public long ExpertStatisticsBudgetBytes { get; init; } = 256L << 20;

    /// <summary>
    /// Layer transforms run in order on each decoder layer before the quantizer sees it (AWQ's scaling, ...): the
    /// pipeline is transforms → quantizer → layer result. Empty: the layer is quantized as read.
    /// </summary>
    public IReadOnlyList<ILayerTransform> Transforms { get; init; } = [];

    /// <summary>Receives the transforms' one-line notes per layer (chosen scales, errors).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Receives warnings of the run (an expert that no calibration token reached, quantized without data).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>
    /// Measure the run's peak memory (<see cref="StreamingRunReport.Memory"/>): full blocking collections after every
    /// pass and every quantized linear keep the heap at its live size, Linux's peak-RSS counter is restarted at the
    /// start (/proc/self/clear_refs) and /proc/self/status is sampled. Off (the default) the run forces no collection,
    /// writes nothing under /proc and leaves the memory figures at zero.
    /// </summary>
    public bool MeasurePeakMemory { get; init; }

    /// <summary>
    /// Receives each quantized linear's measurements (type, bits, weight error, output error on its calibration inputs,
    /// time) as soon as it is quantized; null: nothing is measured. With calibration data, setting it makes the run collect
    /// each linear's Σ x xᵀ even for a quantizer that needs none (the output error is computed from it), which costs that
    /// memory and time; the quantized weights do not change. A linear the quantizer stores in a GGUF float type (F32, F16,
    /// BF16: <see cref="FloatGgufLinearQuantizer"/>, a mix's F16 fallback) is not quantized and gets no record.
    /// </summary>
    public Action<TensorQuantizationRecord>? TensorQuantized { get; init; }

    /// <summary>Reports (steps done, total steps); steps are forward chunks and layer quantizations.</summary>
    public IProgress<(int Done, int Total)>? Progress { get; init; }
}
