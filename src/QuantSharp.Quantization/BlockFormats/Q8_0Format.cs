// ggml Q8_0: 32 weights per block, fp16 scale d = max|x|/127, int8 levels.
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
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 34, 34);
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
    }
}
