// ggml IQ4_XS: 256-weight super-blocks of eight IQ4_NL-style blocks with 6-bit block scales.
using System.Buffers.Binary;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// IQ4_XS (block_iq4_xs: fp16 d, uint16 scales_h (2 high bits per block), scales_l[4] (4 low
/// bits per block), 128 bytes of nibbles; block scale = d·(ls − 32)). What ggml_quantize_chunk
/// does (quantize_iq4_xs, ntry = 7), with or without importance.
/// </summary>
public sealed class Iq4XsFormat : BlockFormatBase
{
    private const int SuperBlock = 256;
    private const int Bytes = 136;
    private const int Qk = NonLinear4Bit.BlockSize;
    private const int BlocksPerSuper = SuperBlock / Qk;

    /// <inheritdoc/>
    public override DType Type => DType.IQ4_XS;

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        var values = NonLinear4Bit.Values;
        Span<float> weight = stackalloc float[Qk];
        Span<float> scales = stackalloc float[BlocksPerSuper];
        Span<byte> levels = stackalloc byte[SuperBlock];
        int supers = row.Length / SuperBlock;
        bool lanes = NonLinear4BitLanes.IsSupported && BlocksPerSuper == NonLinear4BitLanes.Lanes;
        Span<float> weights = lanes ? stackalloc float[SuperBlock] : default;
        Span<float> xt = lanes ? stackalloc float[SuperBlock] : default;
        Span<float> wt = lanes ? stackalloc float[SuperBlock] : default;
        for (int s = 0; s < supers; s++)
        {
            var x = row.Slice(s * SuperBlock, SuperBlock);
            var y = destination.Slice(s * Bytes, Bytes);
            var qwSuper = importance.IsEmpty ? default : importance.Slice(s * SuperBlock, SuperBlock);
            float sigma2 = NonLinear4Bit.SigmaSquared(x);

            float maxScale = 0, amaxScale = 0;
            if (lanes)
            {
                // All eight blocks in one search (same scales as the scalar one).
                for (int ib = 0; ib < BlocksPerSuper; ib++)
                    NonLinear4Bit.Weights(x.Slice(ib * Qk, Qk), qwSuper.IsEmpty ? default : qwSuper.Slice(ib * Qk, Qk), sigma2, weights.Slice(ib * Qk, Qk));
                KQuantLaneSearch.Transpose(x, Qk, BlocksPerSuper, xt);
                KQuantLaneSearch.Transpose(weights, Qk, BlocksPerSuper, wt);
                NonLinear4BitLanes.BlockScales(xt, wt, BlocksPerSuper, scales);
            }
            for (int ib = 0; ib < BlocksPerSuper; ib++)
            {
                var qw = qwSuper.IsEmpty ? default : qwSuper.Slice(ib * Qk, Qk);
                float d = lanes ? scales[ib] : NonLinear4Bit.BlockScale(x.Slice(ib * Qk, Qk), qw, sigma2, weight, levels.Slice(ib * Qk, Qk));
                scales[ib] = d;
                float absD = MathF.Abs(d);
                if (absD > amaxScale) { amaxScale = absD; maxScale = d; }
            }

            // The block scale of largest magnitude maps to −32 on the 6-bit grid.
            float dSuper = -maxScale / 32;
            GgmlScalar.WriteFp16(y, dSuper);
            float idSuper = dSuper != 0 ? 1 / dSuper : 0f;
            ushort scalesH = 0;
            for (int ib = 0; ib < BlocksPerSuper; ib++)
            {
                int l = Math.Max(-32, Math.Min(31, GgmlScalar.NearestInt(idSuper * scales[ib])));
                float dl = dSuper * l;
                float idl = dl != 0 ? 1 / dl : 0f;
                var xb = x.Slice(ib * Qk, Qk);
                var lb = levels.Slice(ib * Qk, Qk);
                if (lanes) NonLinear4BitLanes.PickLevels(xb, idl, lb);
                else for (int j = 0; j < Qk; j++) lb[j] = (byte)GgmlScalar.BestIndex(values, idl * xb[j]);
                l += 32;
                int low = l & 0xF, high = l >> 4;
                if (ib % 2 == 0) y[4 + ib / 2] = (byte)low;
                else y[4 + ib / 2] |= (byte)(low << 4);
                scalesH |= (ushort)(high << (2 * ib));
            }
            BinaryPrimitives.WriteUInt16LittleEndian(y[2..], scalesH);
            for (int i = 0; i < BlocksPerSuper; i++)
            {
                for (int j = 0; j < 16; j++) y[8 + 16 * i + j] = (byte)(levels[32 * i + j] | (levels[32 * i + 16 + j] << 4));
            }
        }
    }
}
