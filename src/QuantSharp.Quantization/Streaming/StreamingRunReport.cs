// Timings and memory figures of one layer-streaming run.
namespace QuantSharp.Quantization.Streaming;

/// <summary>Where the time went and how much memory a <see cref="LayerStreamingQuantizer"/> run used.</summary>
public sealed class StreamingRunReport
{
    /// <summary>Embedding lookup of the calibration tokens.</summary>
    public TimeSpan Embedding { get; internal set; }
    /// <summary>Layer transforms (AWQ's searches included): <see cref="TransformTimes"/> plus copying each layer to fp32 and gathering its calibration inputs for them.</summary>
    public TimeSpan Transforms { get; internal set; }
    /// <summary>Each layer transform's own time (its <see cref="ILayerTransform.Apply"/> calls over the run), by <see cref="ILayerTransform.Name"/>.</summary>
    public IReadOnlyDictionary<string, TimeSpan> TransformTimes => _transformTimes;
    /// <summary>Calibration forward passes (excluding statistics accumulation).</summary>
    public TimeSpan Forward { get; internal set; }
    /// <summary>Statistics accumulation (Hessians, mean squares, observers).</summary>
    public TimeSpan Statistics { get; internal set; }
    /// <summary>The quantizer's own time (weights to fp32 included).</summary>
    public TimeSpan Quantization { get; internal set; }
    /// <summary>GPTQ's Hessian preparation and factorisation (dampening, Cholesky, inverse) within <see cref="Quantization"/>; zero without GPTQ.</summary>
    public TimeSpan Factorisation { get; internal set; }
    /// <summary>GPTQ's column sweep within <see cref="Quantization"/>; zero without GPTQ.</summary>
    public TimeSpan Sweep { get; internal set; }
    /// <summary>The blocking collections forced to measure memory (<see cref="LayerStreamingOptions.MeasurePeakMemory"/>), outside every other phase.</summary>
    public TimeSpan MeasurementCollections { get; internal set; }
    /// <summary>
    /// Time spent inside the run's enumeration (setting up, every layer): the phases above plus the runner's own
    /// bookkeeping. The caller's work between layers (an exporter writing the previous one) is not in it.
    /// </summary>
    public TimeSpan Elapsed { get; internal set; }
    /// <summary>Calibration tokens.</summary>
    public long CalibrationTokens { get; internal set; }
    /// <summary>Size of one copy of the calibration hidden states in fp32 (tokens × dim × 4).</summary>
    public long ActivationBytes { get; internal set; }
    /// <summary>The whole model's parameters in fp32 (what loading it unquantized would take).</summary>
    public long ModelFp32Bytes { get; internal set; }
    /// <summary>Anonymous RSS when the run started (model mapped, calibration tokenized, runtime loaded): what the run adds is measured above it.</summary>
    public long BaselineAnonymousBytes { get; internal set; }
    /// <summary>Managed heap when the run started.</summary>
    public long BaselineManagedBytes { get; internal set; }
    /// <summary>Experts (layer, expert) that no calibration token was routed to, quantized without data.</summary>
    public List<(int Layer, int Expert)> ExpertsWithoutData { get; } = [];
    /// <summary>Whether the run measured its memory (<see cref="LayerStreamingOptions.MeasurePeakMemory"/>); when false the memory figures are zero.</summary>
    public bool MemoryMeasured { get; internal set; }
    /// <summary>Blocking collections the run forced (only when measuring memory).</summary>
    public int ForcedCollections { get; internal set; }
    /// <summary>Times the run restarted Linux's peak-RSS counter through /proc/self/clear_refs (only when measuring memory).</summary>
    public int KernelPeakResets { get; internal set; }
    /// <summary>Peak memory at the sample points (every forward chunk and every quantized layer), when measured.</summary>
    public MemoryProbe Memory { get; } = new();

    private readonly Dictionary<string, TimeSpan> _transformTimes = new(StringComparer.Ordinal);

    internal void AddTransformTime(string name, TimeSpan time) =>
        _transformTimes[name] = _transformTimes.GetValueOrDefault(name) + time;
}
