// ggml Q5_1: 32 weights per block, fp16 scale d and offset m, 5-bit levels q with x ≈ d·q + m.
using System.Buffers.Binary;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q5_1 (block_q5_1: fp16 d, fp16 m, 32-bit qh of fifth bits, 16 bytes of low nibbles).
/// Without importance: quantize_row_q5_1_ref; with importance: quantize_row_q5_1_impl.
/// </summary>
public sealed class Q5_1Format : BlockFormatBase
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q5_1;

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        if (importance.IsEmpty) QuantizeReference(row, destination);
        else QuantizeWeighted(row, destination, importance);
    }

    private static void QuantizeReference(ReadOnlySpan<float> row, Span<byte> destination)
    {
        Span<byte> levels = stackalloc byte[Qk];
        int blocks = row.Length / Qk;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            float min = float.MaxValue, max = -float.MaxValue;
            for (int j = 0; j < Qk; j++)
            {
                float v = x[j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            // ggml converts straight to uint8 here, with no clamp at 31 (the top level cannot overshoot).
            for (int j = 0; j < Qk; j++) levels[j] = (byte)(int)((x[j] - min) * id + 0.5f);
            Pack(destination.Slice(b * 24, 24), d, min, levels);
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
            float d = WeightedScaleSearch.AffineScale(31, x, weight, levels, scratch, out float negMin, -0.9f, 0.05f, 36);
            Pack(destination.Slice(b * 24, 24), d, -negMin, levels);
        }
    }

    private static void Pack(Span<byte> y, float d, float m, ReadOnlySpan<byte> levels)
    {
        GgmlScalar.WriteFp16(y, d);
        GgmlScalar.WriteFp16(y[2..], m);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int q0 = levels[j], q1 = levels[j + 16];
            y[8 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint)((q0 & 0x10) >> 4) << j;
            qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[4..], qh);
    }
}
