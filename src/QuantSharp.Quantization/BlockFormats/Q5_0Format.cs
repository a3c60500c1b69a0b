// ggml Q5_0: 32 weights per block, fp16 scale d, 5-bit levels q with x ≈ d·(q − 16).
using System.Buffers.Binary;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q5_0 (block_q5_0: fp16 d, 32-bit qh holding bit 4 of weight j at bit j, 16 bytes of low
/// nibbles, weight j low and j + 16 high). Without importance: quantize_row_q5_0_ref; with
/// importance: quantize_row_q5_0_impl.
/// </summary>
public sealed class Q5_0Format : BlockFormatBase
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q5_0;

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
            float amax = 0, max = 0;
            for (int j = 0; j < Qk; j++)
            {
                float v = x[j];
                if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            }
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < Qk; j++) levels[j] = (byte)Math.Min(31, (int)(x[j] * id + 16.5f));
            Pack(destination.Slice(b * 22, 22), d, levels);
        }
    }

    private static void QuantizeWeighted(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        Span<float> weight = stackalloc float[Qk];
        Span<byte> levels = stackalloc byte[Qk];
        float sigma2 = LegacyRowStats.MeanSquare(row);
        int blocks = row.Length / Qk;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            LegacyRowStats.Weights(x, importance.Slice(b * Qk, Qk), sigma2, weight);
            float d = WeightedScaleSearch.SymmetricScale(16, x, weight, levels);
            Pack(destination.Slice(b * 22, 22), d, levels);
        }
    }

    /// <summary>Writes d, the fifth bits (qh) and the low nibbles of 32 levels in [0, 31].</summary>
    internal static void Pack(Span<byte> y, float d, ReadOnlySpan<byte> levels)
    {
        GgmlScalar.WriteFp16(y, d);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int q0 = levels[j], q1 = levels[j + 16];
            y[6 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint)((q0 & 0x10) >> 4) << j;
            qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[2..], qh);
    }
}
