// The per-linear-layer quantizer the layer-streaming runner calls (RTN, GGUF RTN, GPTQ, ...).
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Streaming;

/// <summary>What statistics of its inputs a quantizer needs from the calibration forward.</summary>
public enum StatisticsNeeds
{
    /// <summary>Nothing: the result depends only on the weights.</summary>
    None,
    /// <summary>Mean x² per input column (an importance matrix).</summary>
    MeanSquares,
    /// <summary>The full Hessian 2/n Σ x xᵀ (GPTQ).</summary>
    Hessian,
}

/// <summary>One linear layer handed to a quantizer.</summary>
public sealed class LinearQuantizationInput
{
    /// <summary>Decoder layer index.</summary>
    public required int Layer { get; init; }
    /// <summary>Which linear layer (for an expert: gate, up or down).</summary>
    public required LlamaLinear Kind { get; init; }
    /// <summary>The expert whose gate/up/down this is, or −1 for a dense linear.</summary>
    public int Expert { get; init; } = -1;
    /// <summary>Source tensor name (for messages).</summary>
    public required string Name { get; init; }
    /// <summary>Output features.</summary>
    public required int Rows { get; init; }
    /// <summary>Input features.</summary>
    public required int Cols { get; init; }
    /// <summary>Weights [Rows·Cols] fp32 row-major, in the source file's row order (the quantizer may modify it).</summary>
    public required float[] Weight { get; init; }
    /// <summary>Statistics of this layer's inputs, when calibration ran and the quantizer asked for them.</summary>
    public LinearInputStatistics? Statistics { get; init; }

    /// <summary>
    /// True when no later layer reads <see cref="Statistics"/>: the quantizer may take them over
    /// (<see cref="LinearInputStatistics.TakeHessian"/>) instead of copying.
    /// </summary>
    public bool LastUseOfStatistics { get; init; }
}

/// <summary>A quantized linear layer: the weights the forward continues with, plus the encoding an exporter writes.</summary>
public sealed class QuantizedLinear
{
    /// <summary>[Rows·Cols] fp32 weights the quantized layer stands for (exactly what the export dequantizes to).</summary>
    public required float[] Dequantized { get; init; }
    /// <summary>Integer-grid result (for the Hugging Face GPTQ export), when the quantizer produces one.</summary>
    public GptqLayerResult? Grid { get; init; }
    /// <summary>GGUF storage type of <see cref="GgufBytes"/> (a block type, or F16 for rows no block fits).</summary>
    public DType? GgufType { get; init; }
    /// <summary>ggml-encoded rows, source row order, when the quantizer targets GGUF.</summary>
    public byte[]? GgufBytes { get; init; }
    /// <summary>
    /// The part of the quantizer's time GPTQ spent preparing and factorising the Hessian (dampening, Cholesky, inverse);
    /// zero for a quantizer without GPTQ. The runner sums it into <see cref="StreamingRunReport.Factorisation"/>.
    /// </summary>
    public TimeSpan FactorTime { get; init; }
    /// <summary>The part of the quantizer's time spent in GPTQ's column sweep; zero for a quantizer without GPTQ.</summary>
    public TimeSpan SweepTime { get; init; }
}

/// <summary>
/// Quantizes one linear layer. The runner calls it once per linear layer in true-sequential order,
/// from one thread (implementations parallelise inside). Adding a method (GPTQ) is one class.
/// </summary>
public interface ILinearQuantizer
{
    /// <summary>Short name for logs ("rtn", "gptq").</summary>
    string Name { get; }

    /// <summary>Statistics the runner must collect for this quantizer.</summary>
    StatisticsNeeds Needs { get; }

    /// <summary>Quantizes <paramref name="input"/>.</summary>
    QuantizedLinear Quantize(LinearQuantizationInput input);

    /// <summary>
    /// Writes <see cref="QuantizedLinear.Dequantized"/> of <paramref name="input"/> into <paramref name="dequantized"/>
    /// (Rows·Cols values) — the same values as <see cref="Quantize"/>, for a search (AWQ) that rounds many candidates and
    /// keeps none: a quantizer that can, overrides it to round without allocating per call.
    /// </summary>
    void RoundTrip(LinearQuantizationInput input, float[] dequantized)
    {
        var deq = Quantize(input).Dequantized;
        if (deq.Length != dequantized.Length)
            throw new ArgumentException($"layer {input.Layer} {input.Name}: {dequantized.Length} destination values for [{input.Rows}, {input.Cols}]");
        deq.CopyTo(dequantized, 0);
    }

    /// <summary>
    /// The quantizer for a linear that received no calibration data — an expert no calibration token was routed
    /// to: the same grid or block format, no statistics (round-to-nearest). A quantizer that needs none is its own.
    /// </summary>
    ILinearQuantizer WithoutData { get; }
}
