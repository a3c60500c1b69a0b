// Settings of a layer-streaming quantization run.
using QuantSharp.Quantization.Calibration;

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

    /// <summary>Reports (steps done, total steps); steps are forward chunks and layer quantizations.</summary>
    public IProgress<(int Done, int Total)>? Progress { get; init; }
}
