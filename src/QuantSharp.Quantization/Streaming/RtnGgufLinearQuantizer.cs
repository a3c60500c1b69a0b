// Round-to-nearest into a GGUF block type (ggml's reference quantizers) as a pluggable per-linear-layer quantizer.
using System.Buffers;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// Encodes each linear layer with <see cref="BlockQuantizer.QuantizeRows(DType, ReadOnlySpan{float}, int, Span{byte}, ReadOnlySpan{float})"/>
/// into <see cref="Target"/> (with llama.cpp's fallback types of <see cref="LlamaCppMix.Fallback"/>,
/// F16 where no block fits), the same bytes <see cref="PureGgufRecipe"/> writes for the whole model.
/// The forward continues with the exact ggml dequantization of those bytes.
/// </summary>
public sealed class RtnGgufLinearQuantizer : ILinearQuantizer
{
    /// <summary>Creates a quantizer into <paramref name="target"/> (one of <see cref="PureGgufRecipe.SupportedTypes"/>).</summary>
    public RtnGgufLinearQuantizer(DType target)
    {
        if (Array.IndexOf(PureGgufRecipe.SupportedTypes, target) < 0)
            throw new ArgumentException($"GGUF type {target} is not supported; choose one of {string.Join(", ", PureGgufRecipe.SupportedTypes)}");
        Target = target;
    }

    /// <summary>Target block type.</summary>
    public DType Target { get; }

    /// <inheritdoc/>
    public string Name => "rtn";

    /// <inheritdoc/>
    public StatisticsNeeds Needs => StatisticsNeeds.None;

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => this;

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        var ggml = LlamaCppMix.Fallback(GgmlTypeInfo.FromDType(Target)!.Value, input.Cols, input.Name);
        return Encode(ggml == GgmlType.F16 ? DType.F16 : GgmlTypeInfo.Of(ggml).CoreType!.Value, input, default);
    }

    /// <inheritdoc/>
    public void RoundTrip(LinearQuantizationInput input, float[] dequantized)
    {
        var ggml = LlamaCppMix.Fallback(GgmlTypeInfo.FromDType(Target)!.Value, input.Cols, input.Name);
        RoundTripInto(ggml == GgmlType.F16 ? DType.F16 : GgmlTypeInfo.Of(ggml).CoreType!.Value, input, dequantized);
    }

    /// <summary>
    /// <see cref="Encode"/>'s dequantized values (no importance) written into <paramref name="dequantized"/>, the encoded
    /// bytes in a pooled buffer: what a search that rounds many candidates needs, without an allocation per candidate.
    /// </summary>
    internal static void RoundTripInto(DType type, LinearQuantizationInput input, float[] dequantized)
    {
        int rows = input.Rows, cols = input.Cols;
        if (dequantized.Length != (long)rows * cols)
            throw new ArgumentException($"layer {input.Layer} {input.Name}: {dequantized.Length} destination values for [{rows}, {cols}]");
        if (type == DType.F16)
        {
            Encode(type, input, default).Dequantized.CopyTo(dequantized, 0);
            return;
        }
        long rowBytes = DTypeInfo.RowBytes(type, cols);
        int length = checked((int)(rowBytes * rows));
        var bytes = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            // Zeroed as a new array would be, so that no block type depends on the pooled buffer's previous contents.
            bytes.AsSpan(0, length).Clear();
            BlockQuantizer.QuantizeRows(type, input.Weight, cols, bytes.AsSpan(0, length), default, $"layer {input.Layer} {input.Name}");
            ScopedParallel.For(0, rows, r =>
                BlockDequantizer.DequantizeRow(type, bytes.AsSpan((int)(r * rowBytes), (int)rowBytes), dequantized.AsSpan(r * cols, cols)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>
    /// Encodes <paramref name="input"/> into <paramref name="type"/> — a block type whose blocks fit the rows, or F16 —
    /// with ggml's quantizer, weighting columns by <paramref name="importance"/> (an imatrix entry; empty: none).
    /// </summary>
    internal static QuantizedLinear Encode(DType type, LinearQuantizationInput input, ReadOnlySpan<float> importance)
    {
        int rows = input.Rows, cols = input.Cols;
        var deq = new float[(long)rows * cols];
        if (type != DType.F16)
        {
            long rowBytes = DTypeInfo.RowBytes(type, cols);
            var bytes = new byte[rowBytes * rows];
            BlockQuantizer.QuantizeRows(type, input.Weight, cols, bytes, importance, $"layer {input.Layer} {input.Name}");
            ScopedParallel.For(0, rows, r =>
                BlockDequantizer.DequantizeRow(type, bytes.AsSpan((int)(r * rowBytes), (int)rowBytes), deq.AsSpan(r * cols, cols)));
            return new QuantizedLinear { Dequantized = deq, GgufType = type, GgufBytes = bytes };
        }
        var half = new Half[(long)rows * cols];
        for (int i = 0; i < input.Weight.Length; i++)
            if (!(Math.Abs(input.Weight[i]) <= 65504f))
                throw new InvalidDataException($"layer {input.Layer} {input.Name}: value {input.Weight[i]} (row {i / cols}) does not fit the F16 this row falls back to");
        FloatConversion.Float32ToF16(input.Weight, half);
        for (int i = 0; i < half.Length; i++) deq[i] = (float)half[i];
        return new QuantizedLinear { Dequantized = deq, GgufType = DType.F16, GgufBytes = MemoryMarshal.AsBytes(half.AsSpan()).ToArray() };
    }
}
