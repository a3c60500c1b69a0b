// ggml Q4_1: 32 weights per block, fp16 scale d and offset m, 4-bit levels q with x ≈ d·q + m.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q4_1 (block_q4_1: fp16 d, fp16 m, 16 bytes of nibbles, weight j low and j + 16 high).
/// Without importance: quantize_row_q4_1_ref. With importance: quantize_row_q4_1_impl.
/// </summary>
public sealed class Q4_1Format : BlockFormatBase
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q4_1;

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        if (importance.IsEmpty) QuantizeReference(row, destination);
        else QuantizeWeighted(row, destination, importance);
    }

    private static void QuantizeReference(ReadOnlySpan<float> row, Span<byte> destination)
    {
        int blocks = row.Length / Qk;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 20, 20);
            float min = float.MaxValue, max = -float.MaxValue;
            for (int j = 0; j < Qk; j++)
            {
                float v = x[j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            GgmlScalar.WriteFp16(y, d);
            GgmlScalar.WriteFp16(y[2..], min);
            for (int j = 0; j < Qk / 2; j++)
            {
                int q0 = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)((x[j + Qk / 2] - min) * id + 0.5f));
                y[4 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    private static void QuantizeWeighted(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        Span<float> weight = stackalloc float[Qk];
        Span<byte> levels = stackalloc byte[Qk];
        Span<byte> scratch = stackalloc byte[Qk];
        float sigma2 = LegacyRowStats.MeanSquare(row);
        int blocks = row.Length / Qk;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            LegacyRowStats.Weights(x, importance.Slice(b * Qk, Qk), sigma2, weight);
            float d = WeightedScaleSearch.AffineScale(15, x, weight, levels, scratch, out float negMin, -0.9f, 0.05f, 36);
            var y = destination.Slice(b * 20, 20);
            GgmlScalar.WriteFp16(y, d);
            GgmlScalar.WriteFp16(y[2..], -negMin);
            for (int j = 0; j < 16; j++) y[4 + j] = (byte)(levels[j] | (levels[j + 16] << 4));
        }
    }
}
