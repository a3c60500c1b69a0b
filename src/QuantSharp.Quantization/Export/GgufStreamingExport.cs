// GGUF output of a layer-streaming run: llama.cpp's file layout with each layer's tensors written as the run produces them.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// Writes the GGUF of a <see cref="LayerStreamingQuantizer"/> run whose quantizer produces GGUF
/// rows (<see cref="QuantizedLinear.GgufBytes"/>). The tensor table comes first, from the type
/// policy of <see cref="PureGgufRecipe"/> for the target type or of a llama.cpp mix (types and sizes are known
/// before any layer is quantized); token embedding and classifier are encoded from the model as the
/// whole-model recipe does; each decoder layer's linear tensors, vectors (norms, biases) and router are pulled from the run
/// when the writer reaches them, so one layer is in memory at a time. Atomic (temporary file, renamed when
/// complete; removed on error or cancellation).
/// </summary>
public static class GgufStreamingExport
{
    /// <summary>Runs <paramref name="runner"/> and writes <paramref name="outputPath"/>.</summary>
    /// <param name="model">The model the runner quantizes.</param>
    /// <param name="runner">The layer-streaming run supplying each layer's GGUF rows.</param>
    /// <param name="target">The block type of the file, or a float type (F32, F16, BF16) for a run whose quantizer is a
    /// <see cref="FloatGgufLinearQuantizer"/>.</param>
    /// <param name="outputPath">Destination .gguf.</param>
    /// <param name="protectedPaths">Input files that must never be overwritten.</param>
    /// <param name="cancellationToken">Cancels; the partial file is removed.</param>
    /// <param name="tensorQuantized">When set, receives a record of each model-level matrix this export block-encodes
    /// (the decoder layers' linears are reported by the runner's own <see cref="LayerStreamingOptions.TensorQuantized"/>).</param>
    /// <param name="floatTensor">When set, receives each 2-D weight stored as a float type (name, type, shape).</param>
    /// <param name="encodedModelTensors">Model-level matrices already encoded in the type the file gives them (the classifier
    /// calibrated by GPTQ, <see cref="Calibration.ClassifierCalibration"/>); the others are rounded to nearest.</param>
    public static void Export(LlamaModel model, LayerStreamingQuantizer runner, DType target, string outputPath,
        IEnumerable<string>? protectedPaths = null, CancellationToken cancellationToken = default,
        Action<Reporting.TensorQuantizationRecord>? tensorQuantized = null, Action<string, GgmlType, long[]>? floatTensor = null,
        IReadOnlyDictionary<string, byte[]>? encodedModelTensors = null) =>
        Export(model, runner, TableOf(model, target, encodedModelTensors), outputPath, protectedPaths, cancellationToken, tensorQuantized, floatTensor);

    // A block type: llama-quantize --pure's table. A float type (a run that only transforms, FloatGgufLinearQuantizer):
    // every 2-D weight in it and the float file type, as `convert --outtype` writes a float model.
    private static GgufTensorEncoding TableOf(LlamaModel model, DType target, IReadOnlyDictionary<string, byte[]>? encoded)
    {
        if (Array.IndexOf(FloatGgufLinearQuantizer.SupportedTypes, target) < 0) return WithEncoded(PureGgufRecipe.Encoding(model, target), encoded);
        if (encoded is { Count: > 0 }) throw new ArgumentException($"a {target} file has no pre-encoded tensors", nameof(encoded));
        var ggml = GgmlTypeInfo.FromDType(target) ?? throw new NotSupportedException($"{target} has no GGUF type");
        return new GgufTensorEncoding((_, _) => ggml, null, GgufLlamaExporter.FileType(ggml));
    }

    // The pure encoding with some model-level tensors' bytes supplied (same types: checked against the table).
    private static GgufTensorEncoding WithEncoded(GgufTensorEncoding encoding, IReadOnlyDictionary<string, byte[]>? encoded)
    {
        if (encoded is null || encoded.Count == 0) return encoding;
        var inner = encoding.Encoder ?? throw new InvalidOperationException("a block-quantized encoding has an encoder");
        return encoding with
        {
            Encoder = (name, matrix, type, rows, rowLength, dst) =>
            {
                if (encoded.GetValueOrDefault(name) is not { } bytes) inner(name, matrix, type, rows, rowLength, dst);
                else if (bytes.Length != dst.Length)
                    throw new InvalidOperationException($"tensor '{name}': {bytes.Length} encoded bytes for a {type} tensor of {dst.Length} bytes");
                else bytes.CopyTo(dst);
            },
        };
    }

    /// <summary>
    /// Runs <paramref name="runner"/> (whose quantizer writes the types of the plan, <see cref="MixGgufLinearQuantizer"/>) and
    /// writes <paramref name="outputPath"/> as a GGUF of llama.cpp's mix <paramref name="fileType"/>: its tensor table and
    /// general.file_type, token embedding and classifier as <see cref="LlamaCppMixRecipe.CalibratedEncoding"/> encodes them.
    /// The report observers are those of the block-type overload; <paramref name="overrides"/> must be the ones the
    /// runner's quantizer was planned with; <paramref name="encodedModelTensors"/> are model-level matrices already encoded
    /// in their planned types (the calibrated classifier).
    /// </summary>
    public static void Export(LlamaModel model, LayerStreamingQuantizer runner, LlamaCppFileType fileType, bool pure, string outputPath,
        IEnumerable<string>? protectedPaths = null, CancellationToken cancellationToken = default,
        Action<Reporting.TensorQuantizationRecord>? tensorQuantized = null, Action<string, GgmlType, long[]>? floatTensor = null,
        TensorTypeOverrides? overrides = null, IReadOnlyDictionary<string, byte[]>? encodedModelTensors = null) =>
        Export(model, runner, LlamaCppMixRecipe.CalibratedEncoding(model, fileType, pure, overrides, encodedModelTensors), outputPath, protectedPaths, cancellationToken,
            tensorQuantized, floatTensor);

    private static void Export(LlamaModel model, LayerStreamingQuantizer runner, GgufTensorEncoding tableAndModelTensors, string outputPath,
        IEnumerable<string>? protectedPaths, CancellationToken cancellationToken,
        Action<Reporting.TensorQuantizationRecord>? tensorQuantized, Action<string, GgmlType, long[]>? floatTensor)
    {
        using var cursor = new LayerCursor(runner.Run(cancellationToken));
        var encoding = tableAndModelTensors with
        {
            LayerTensors = (layer, linear, expert) =>
            {
                var q = expert < 0 ? cursor.Layer(layer)[linear] : cursor.Layer(layer).Expert(linear, expert);
                if (q.GgufType is not { } t || q.GgufBytes is null)
                    throw new InvalidOperationException($"layer {layer} {linear}{(expert < 0 ? "" : $" expert {expert}")}: the quantizer did not produce GGUF rows (use a GGUF quantizer for --format gguf)");
                return (GgmlTypeInfo.FromDType(t) ?? throw new NotSupportedException($"{t} has no GGUF type"), q.GgufBytes);
            },
            // Norms, biases and q/k norms as the run used them (a transform may have changed them).
            LayerVectors = (layer, role) => cursor.Layer(layer).Vector(role),
            // A mixture of experts' router as the run used it (a rotation changes it), else the model's.
            LayerRouters = layer => cursor.Layer(layer).Router,
        };
        if (tensorQuantized != null) encoding = Reporting.GgufEncodingErrors.Observe(encoding, tensorQuantized, floatTensor);
        GgufLlamaExporter.Export(model, outputPath, encoding, protectedPaths: protectedPaths, cancellationToken: cancellationToken);
    }
}
