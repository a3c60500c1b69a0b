// ggml Q8_K: the activation format the k-quant dot products pair with (fp32 scale, int8, block sums).
using System.Buffers.Binary;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q8_K (292 bytes per 256 values: float d, int8 qs[256], int16 bsums[16], the sums of each 16
/// quants). quantize_row_q8_K_ref: scale -127/max by the value of largest magnitude. ggml has no
/// importance-weighted Q8_K, so an importance vector is checked and then ignored.
/// </summary>
internal sealed class Q8_KFormat : KQuantFormat
{
    private const int DOffset = 0, QsOffset = 4, BsumsOffset = 260;

    /// <inheritdoc/>
    public override DType Type => DType.Q8_K;

    /// <inheritdoc/>
    protected override void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance)
    {
        float max = 0, amax = 0;
        for (int j = 0; j < SuperBlockSize; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        var qs = block.Slice(QsOffset, SuperBlockSize);
        if (amax == 0)
        {
            // ggml leaves bsums untouched here; zero is what they would sum to.
            block.Clear();
            return;
        }
        float iscale = -127f / max;
        for (int j = 0; j < SuperBlockSize; j++)
            qs[j] = (byte)(sbyte)Math.Min(127, KQuantScaleSearch.NearestInt(iscale * x[j]));
        for (int j = 0; j < 16; j++)
        {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += (sbyte)qs[16 * j + i];
            BinaryPrimitives.WriteInt16LittleEndian(block.Slice(BsumsOffset + 2 * j, 2), (short)sum);
        }
        BinaryPrimitives.WriteSingleLittleEndian(block.Slice(DOffset, 4), 1 / iscale);
    }
}
