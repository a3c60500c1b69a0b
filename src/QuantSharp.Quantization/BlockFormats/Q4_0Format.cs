// ggml Q4_0: 32 weights per block, fp16 scale d, 4-bit levels q with x ≈ d·(q − 8).
using System.Runtime.Intrinsics;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q4_0 (block_q4_0: fp16 d, 16 bytes of nibbles; byte j holds weight j low and weight j + 16 high).
/// Without importance: quantize_row_q4_0_ref. With importance: quantize_row_q4_0_impl.
/// </summary>
public sealed class Q4_0Format : BlockFormatBase, IBlockGrid
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q4_0;

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        if (importance.IsEmpty) QuantizeReference(row, destination);
        else QuantizeWeighted(row, destination, importance);
    }

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeRowUnchecked(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float d = (float)BitConverter.UInt16BitsToHalf((ushort)(block[0] | (block[1] << 8)));
        int l = GridRounding.NearestScaled(value, d, -8, 0, 15);
        ref byte b = ref block[2 + (index & 15)];
        b = index < 16 ? (byte)((b & 0xF0) | l) : (byte)((b & 0x0F) | (l << 4));
        return (l - 8) * d;
    }

    private static void QuantizeReference(ReadOnlySpan<float> row, Span<byte> destination)
    {
        int blocks = row.Length / Qk;
        bool vector = Vector256.IsHardwareAccelerated;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 18, 18);
            if (vector) QuantizeBlockVector(x, y);
            else QuantizeBlockScalar(x, y);
        }
    }

    /// <summary>quantize_row_q4_0_ref for one block of 32.</summary>
    internal static void QuantizeBlockScalar(ReadOnlySpan<float> x, Span<byte> y)
    {
        // The signed value of largest magnitude maps to level −8 (the grid's longer side).
        float amax = 0, max = 0;
        for (int j = 0; j < Qk; j++)
        {
            float v = x[j];
            if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        GgmlScalar.WriteFp16(y, d);
        for (int j = 0; j < Qk / 2; j++)
        {
            // ggml rounds with the unrounded fp32 scale and truncates x·id + 8.5.
            int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(x[j + Qk / 2] * id + 8.5f));
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    /// <summary>
    /// <see cref="QuantizeBlockScalar"/> with 8-lane vectors and the same bytes: the largest |x| does not
    /// depend on the order it is found in, the scalar loop keeps the first element reaching it, and
    /// x·id + 8.5 is the same product and sum per element, truncated alike.
    /// </summary>
    internal static void QuantizeBlockVector(ReadOnlySpan<float> x, Span<byte> y)
    {
        if (x.Length < Qk || y.Length < 18) throw new ArgumentException("a Q4_0 block is 32 values in 18 bytes");
        Block32Vectors.Load(x, out var v0, out var v1, out var v2, out var v3);
        float amax = Block32Vectors.AbsMax(v0, v1, v2, v3);
        float max = 0;
        if (amax > 0)
        {
            var a = Vector256.Create(amax);
            uint hits = Vector256.Equals(Vector256.Abs(v0), a).ExtractMostSignificantBits()
                | Vector256.Equals(Vector256.Abs(v1), a).ExtractMostSignificantBits() << 8
                | Vector256.Equals(Vector256.Abs(v2), a).ExtractMostSignificantBits() << 16
                | Vector256.Equals(Vector256.Abs(v3), a).ExtractMostSignificantBits() << 24;
            max = x[System.Numerics.BitOperations.TrailingZeroCount(hits)];
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        GgmlScalar.WriteFp16(y, d);
        var scale = Vector256.Create(id);
        var offset = Vector256.Create(8.5f);
        var top = Vector256.Create(15);
        var q0 = Vector256.Min(top, Vector256.ConvertToInt32(v0 * scale + offset));
        var q1 = Vector256.Min(top, Vector256.ConvertToInt32(v1 * scale + offset));
        var q2 = Vector256.Min(top, Vector256.ConvertToInt32(v2 * scale + offset));
        var q3 = Vector256.Min(top, Vector256.ConvertToInt32(v3 * scale + offset));
        // Byte j: weight j low, weight j + 16 high. Narrow keeps element order and truncates; the bytes fit.
        var packed = Vector256.Narrow(q0 | (q2 << 4), q1 | (q3 << 4));
        Vector256.Narrow(packed, packed).GetLower().AsByte().CopyTo(y.Slice(2, 16));
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
            float d = WeightedScaleSearch.SymmetricScale(8, x, weight, levels);
            var y = destination.Slice(b * 18, 18);
            GgmlScalar.WriteFp16(y, d);
            for (int j = 0; j < 16; j++) y[2 + j] = (byte)(levels[j] | (levels[j + 16] << 4));
        }
    }
}
