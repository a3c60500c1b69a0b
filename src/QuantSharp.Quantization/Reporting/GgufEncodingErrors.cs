// Measures every tensor a GGUF export block-encodes (named mixes, the embedding and classifier of a streaming run).
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;

namespace QuantSharp.Quantization.Reporting;

/// <summary>
/// Wraps a <see cref="GgufTensorEncoding"/> so that each block-encoded matrix is reported: the encoder's bytes are
/// dequantized (ggml's dequantization) and compared with the rows it was given. The bytes written are unchanged.
/// </summary>
public static class GgufEncodingErrors
{
    /// <summary>
    /// The encoding with its encoder observed. <paramref name="onTensor"/> receives one record per encoded matrix (per
    /// expert for stacked experts); <paramref name="onFloatTensor"/>, when given, the name, type and shape of every 2-D
    /// weight the encoding stores as a float type (F32/F16/BF16), which no quantizer touches.
    /// </summary>
    public static GgufTensorEncoding Observe(GgufTensorEncoding encoding, Action<TensorQuantizationRecord> onTensor,
        Action<string, GgmlType, long[]>? onFloatTensor = null)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        ArgumentNullException.ThrowIfNull(onTensor);
        var inner = encoding.Encoder;
        return encoding with
        {
            TypeFor = (name, shape) =>
            {
                var t = encoding.TypeFor(name, shape);
                if (t is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16) onFloatTensor?.Invoke(name, t, shape);
                return t;
            },
            Encoder = inner is null ? null : (name, matrix, type, rows, rowLength, destination) =>
            {
                var sw = Stopwatch.StartNew();
                inner(name, matrix, type, rows, rowLength, destination);
                double seconds = sw.Elapsed.TotalSeconds;
                var core = GgmlTypeInfo.Of(type).CoreType ?? throw new NotSupportedException($"{name}: {type} has no dequantizer");
                var back = new float[rows.Length];
                BlockDequantizer.DequantizeRow(core, destination, back);
                var (kind, layer) = TensorKinds.FromGgufName(name);
                int rowCount = rows.Length / rowLength;
                onTensor(new TensorQuantizationRecord
                {
                    Name = name, Kind = kind, Layer = layer, Expert = name.Contains("_exps.", StringComparison.Ordinal) ? matrix : null,
                    Type = core.ToString(), Rows = rowCount, Columns = rowLength,
                    BitsPerWeight = 8.0 * destination.Length / rows.Length,
                    WeightError = QuantizationErrors.Rounded(QuantizationErrors.RelativeWeightError(rows, back)),
                    Seconds = seconds,
                });
            },
        };
    }
}
