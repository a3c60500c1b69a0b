// ggml Q3_K: 3-bit weights (2 low bits + a high-bit mask) in 16-weight sub-blocks with signed 6-bit scales.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// Q3_K (110 bytes per 256 weights: hmask[32], qs[64], scales[12], d). Without importance this is
/// quantize_row_q3_K_ref (make_q3_quants per sub-block); with it, quantize_row_q3_K_impl
/// (make_qx_quants under qw·sqrt(2σ² + x²), and again for the 16 scales).
/// </summary>
internal sealed class Q3_KFormat : KQuantFormat, IBlockGrid
{
    private const int HmaskOffset = 0, QsOffset = 32, ScalesOffset = 96, DOffset = 108;

    /// <inheritdoc/>
    public override DType Type => DType.Q3_K;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeBlock(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        float dAll = ReadHalf(block, DOffset);
        var packed = block.Slice(ScalesOffset, 12);
        int j = index / 16;
        int sc = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
        sc = (sc | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        float dl = dAll * sc;
        // Level l (0…7) dequantizes to dl·(l − 4): low two bits in qs, l ≥ 4 marked in hmask.
        int l = GridRounding.NearestScaled(value, dl, -4, 0, 7);
        int p = index % 128, shift = 2 * (p / 32);
        ref byte b = ref block[QsOffset + 32 * (index / 128) + (p & 31)];
        b = (byte)((b & ~(3 << shift)) | ((l & 3) << shift));
        int bit = 1 << (index / 32);
        ref byte h = ref block[HmaskOffset + (index & 31)];
        h = l > 3 ? (byte)(h | bit) : (byte)(h & ~bit);
        return dl * (l - 4);
    }

    /// <inheritdoc/>
    protected override void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance)
    {
        Span<sbyte> levels = stackalloc sbyte[SuperBlockSize];
        Span<float> scales = stackalloc float[16];
        var packed = block.Slice(ScalesOffset, 12);
        packed.Clear();
        float dAll;

        if (importance.IsEmpty)
        {
            float maxScale = 0, amax = 0;
            if (KQuantLaneSearch.IsSupported)
            {
                // Eight sub-blocks per search, bit-identical to the scalar one.
                const int Group = KQuantLaneSearch.Lanes * 16;
                Span<float> xt = stackalloc float[Group];
                for (int g = 0; g < 2; g++)
                {
                    KQuantLaneSearch.Transpose(x.Slice(Group * g, Group), 16, KQuantLaneSearch.Lanes, xt);
                    KQuantLaneSearch.MakeQ3Quants(4, 16, xt, KQuantLaneSearch.Lanes, levels.Slice(Group * g, Group), scales.Slice(8 * g, 8));
                }
            }
            for (int j = 0; j < 16; j++)
            {
                if (!KQuantLaneSearch.IsSupported) scales[j] = KQuantScaleSearch.MakeQ3Quants(4, x.Slice(16 * j, 16), levels.Slice(16 * j, 16));
                float scale = MathF.Abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    // ggml keeps the rounded value in an int8_t before clamping; with |iscale·scale| ≤ 32 that is lossless.
                    sbyte l = (sbyte)KQuantScaleSearch.NearestInt(iscale * scales[j]);
                    PackScale(packed, j, Math.Clamp((int)l, -32, 31) + 32);
                }
                dAll = StoreHalf(block, DOffset, 1 / iscale);
            }
            else
            {
                dAll = StoreHalf(block, DOffset, 0f);
            }
        }
        else
        {
            Span<float> weights = stackalloc float[16];
            Span<float> sw = stackalloc float[16];
            Span<sbyte> ls = stackalloc sbyte[16];
            float sumx2 = 0;
            for (int j = 0; j < SuperBlockSize; j++) sumx2 += x[j] * x[j];
            float sigma2 = 2 * sumx2 / SuperBlockSize;
            for (int j = 0; j < 16; j++)
            {
                var xs = x.Slice(16 * j, 16);
                var qw = importance.Slice(16 * j, 16);
                for (int l = 0; l < 16; l++) weights[l] = qw[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                float sumw = 0;
                for (int l = 0; l < 16; l++) sumw += weights[l];
                sw[j] = sumw;
                scales[j] = KQuantScaleSearch.MakeQxQuants(4, xs, levels.Slice(16 * j, 16), weights);
            }
            float dBlock = KQuantScaleSearch.MakeQxQuants(32, scales, ls, sw);
            for (int j = 0; j < 16; j++) PackScale(packed, j, ls[j]);
            dAll = StoreHalf(block, DOffset, dBlock);
        }

        // Requantize against the stored scales; a sub-block whose scale is 0 keeps its search levels.
        for (int j = 0; j < 16; j++)
        {
            int sc = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
            sc = (sbyte)((sc | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
            float d = dAll * sc;
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
            {
                int l = Math.Clamp(KQuantScaleSearch.NearestInt(x[16 * j + i] / d), -4, 3);
                levels[16 * j + i] = (sbyte)(l + 4);
            }
        }

        // High bits: bit k of hmask[m] is the high bit of weight 32·k + m.
        var hmask = block.Slice(HmaskOffset, 32);
        hmask.Clear();
        int mi = 0;
        int hm = 1;
        for (int j = 0; j < SuperBlockSize; j++)
        {
            if (levels[j] > 3)
            {
                hmask[mi] = (byte)(hmask[mi] | hm);
                levels[j] -= 4;
            }
            if (++mi == 32) { mi = 0; hm <<= 1; }
        }
        var qs = block.Slice(QsOffset, 64);
        for (int j = 0; j < SuperBlockSize; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)((byte)levels[j + l] | ((byte)levels[j + l + 32] << 2) | ((byte)levels[j + l + 64] << 4) | ((byte)levels[j + l + 96] << 6));
    }

    /// <summary>
    /// Packs 6-bit scale <paramref name="j"/> (0…63, i.e. offset by 32): low nibbles in bytes 0–7
    /// (sub-blocks 8–15 in the high halves), the top 2 bits in bytes 8–11.
    /// </summary>
    private static void PackScale(Span<byte> packed, int j, int l)
    {
        if (j < 8) packed[j] = (byte)(l & 0xF);
        else packed[j - 8] = (byte)(packed[j - 8] | ((l & 0xF) << 4));
        l >>= 4;
        packed[j % 4 + 8] = (byte)(packed[j % 4 + 8] | (l << (2 * (j / 4))));
    }
}
