// ggml Q8_0: 32 weights per block, fp16 scale d = max|x|/127, int8 levels.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q8_0 (block_q8_0: fp16 d, 32 int8). quantize_row_q8_0_ref; ggml ignores an importance
/// matrix for this type (quantize_q8_0), and so do we, so files match llama-quantize either way.
/// </summary>
public sealed class Q8_0Format : BlockFormatBase
{
    private const int Qk = 32;

    /// <inheritdoc/>
    public override DType Type => DType.Q8_0;

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
