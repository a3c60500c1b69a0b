// No rounding: each linear stored in a GGUF float type (F32, F16, BF16) as the layer's transforms (a rotation) left it.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The "quantizer" of a run that only transforms (<c>quantize --method rotate --format gguf:F16</c>): every linear in
/// <see cref="Target"/>, converted exactly as the GGUF exporter converts a float model (<c>convert --outtype</c>), so that
/// the file is the one a two-step run (rotate into a folder, then convert) writes. The forward continues with the
/// converted values. A value F16 cannot hold is an error naming the tensor, as in the exporter.
/// </summary>
public sealed class FloatGgufLinearQuantizer : ILinearQuantizer
{
    /// <summary>The float types a GGUF stores: F32, F16 and BF16.</summary>
    public static readonly DType[] SupportedTypes = [DType.F32, DType.F16, DType.BF16];

    /// <summary>Creates the converter into <paramref name="target"/> (one of <see cref="SupportedTypes"/>).</summary>
    public FloatGgufLinearQuantizer(DType target)
    {
        if (Array.IndexOf(SupportedTypes, target) < 0)
            throw new ArgumentException($"{target} is not a GGUF float type; choose one of {string.Join(", ", SupportedTypes)}", nameof(target));
        Target = target;
    }

    /// <summary>The float type every linear is stored in.</summary>
    public DType Target { get; }

    /// <inheritdoc/>
    public string Name => "none";

    /// <inheritdoc/>
    public StatisticsNeeds Needs => StatisticsNeeds.None;

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => this;

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var w = input.Weight;
        for (int i = 0; i < w.Length; i++)
        {
            float x = w[i];
            // The exporter's checks on a float tensor: a broken or overflowing value is refused, never written.
            if (!float.IsFinite(x))
                throw new InvalidDataException($"layer {input.Layer} {input.Name}: row {i / input.Cols} contains NaN or Inf; refusing to export a broken model");
            if (Target == DType.F16 && Math.Abs(x) > 65504f)
                throw new InvalidDataException($"layer {input.Layer} {input.Name}: value {x} in row {i / input.Cols} overflows F16; use --format gguf:BF16 or gguf:F32 instead");
        }
        if (Target == DType.F32) return new QuantizedLinear { Dequantized = w, GgufType = Target, GgufBytes = MemoryMarshal.AsBytes(w.AsSpan()).ToArray() };
        var bytes = new byte[w.LongLength * 2];
        if (Target == DType.F16) FloatConversion.Float32ToF16(w, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan()));
        else FloatConversion.Float32ToBF16(w, MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan()));
        // The forward goes on with what the file holds, read back as every reader of the file does.
        var deq = new float[w.Length];
        FloatConversion.ToFloat32(Target, bytes, deq);
        return new QuantizedLinear { Dequantized = deq, GgufType = Target, GgufBytes = bytes };
    }
}
