// ggml Q8_0: 32 weights per block, fp16 scale d = max|x|/127, int8 levels.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q8_0 (block_q8_0: fp16 d, 32 int8). quantize_row_q8_0_ref; ggml ignores an importance
/// matrix for this type (quantize_q8_0), and so do we, so files match llama-quantize either way.
/// </summary>
public sealed class Q8_0Format : BlockFormatBase, IBlockGrid
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q8_0;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeRowUnchecked(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float d = (float)BitConverter.UInt16BitsToHalf((ushort)(block[0] | (block[1] << 8)));
        int l = GridRounding.NearestScaled(value, d, 0, -128, 127);
        block[2 + index] = (byte)(sbyte)l;
        return l * d;
    }

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        int blocks = row.Length / Qk;
        bool vector = Vector256.IsHardwareAccelerated;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 34, 34);
            if (vector) QuantizeBlockVector(x, y);
            else QuantizeBlockScalar(x, y);
        }
    }

    /// <summary>quantize_row_q8_0_ref for one block of 32.</summary>
    internal static void QuantizeBlockScalar(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        for (int j = 0; j < Qk; j++)
        {
            float a = MathF.Abs(x[j]);
            amax = amax > a ? amax : a;
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        GgmlScalar.WriteFp16(y, d);
        // roundf: halves away from zero.
        for (int j = 0; j < Qk; j++) y[2 + j] = (byte)(sbyte)(int)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    /// <summary>
    /// <see cref="QuantizeBlockScalar"/> with 8-lane vectors and the same results: the maximum of |x| does not
    /// depend on the order it is taken in, x·id is the same product per element, and roundf is
    /// trunc(v) plus ±1 where |v − trunc(v)| ≥ ½ (v − trunc(v) is exact below 2²³; here |v| ≤ 127).
    /// </summary>
    internal static void QuantizeBlockVector(ReadOnlySpan<float> x, Span<byte> y)
    {
        if (x.Length < Qk || y.Length < 34) throw new ArgumentException("a Q8_0 block is 32 values in 34 bytes");
        Block32Vectors.Load(x, out var v0, out var v1, out var v2, out var v3);
        float amax = Block32Vectors.AbsMax(v0, v1, v2, v3);
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        GgmlScalar.WriteFp16(y, d);
        var scale = Vector256.Create(id);
        var l01 = Vector256.Narrow(RoundHalfAway(v0 * scale), RoundHalfAway(v1 * scale));
        var l23 = Vector256.Narrow(RoundHalfAway(v2 * scale), RoundHalfAway(v3 * scale));
        // Narrow truncates and keeps element order (first argument, then second); the levels fit in a byte.
        Vector256.Narrow(l01, l23).AsByte().CopyTo(y.Slice(2, Qk));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RoundHalfAway(Vector256<float> v)
    {
        var t = Vector256.Truncate(v);
        var half = Vector256.GreaterThanOrEqual(Vector256.Abs(v - t), Vector256.Create(0.5f));
        var step = Vector256.ConditionalSelect(Vector256.Create(-0f), v, Vector256.Create(1f)); // ±1 with v's sign
        return Vector256.ConvertToInt32(t + (step & half));
    }
}
