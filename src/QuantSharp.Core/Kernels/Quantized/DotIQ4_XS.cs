// IQ4_XS weights · Q8_K activations: 256-weight super-blocks of IQ4_NL-style values, eight 32-weight sub-blocks with 6-bit scales.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Each sub-block's nibbles go through the non-linear table (vpshufb), the sign moves onto the
/// activations, vpmaddubsw gives int16 pairs (≤ 2·127·127) and vpmaddwd/vpdpwssd applies the
/// sub-block scale ls − 32. No offset, so the activation sums are not needed.
/// </summary>
internal unsafe struct DotIQ4_XS : IQuantDot
{
    private const int BlockBytes = 136;

    public static bool SuperBlocks => true;

    /// <summary>Sub-block <paramref name="ib"/>'s scale: 4 low bits from scales_l, 2 high bits from scales_h, minus 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SubScale(byte* block, int ib)
    {
        int scalesH = Unsafe.ReadUnaligned<ushort>(block + 2);
        return (((block[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4)) - 32;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var u = stackalloc Vector256<byte>[8];
        var v = stackalloc Vector256<sbyte>[8];
        var scale = stackalloc Vector256<short>[8];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w);
            for (int s = 0; s < 8; s++)
            {
                v[s] = WeightBits.Iq4Values(IntDot.Nibbles32(w + 8 + 16 * s));
                u[s] = Avx2.Abs(v[s]);
                scale[s] = Vector256.Create((short)SubScale(w, s));
            }
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = Vector256<int>.Zero;
                for (int s = 0; s < 8; s++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(u[s], Avx2.Sign(Vector256.Load(aq + 32 * s), v[s])), scale[s]);
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        var kv = LegacyDequant.Iq4NlValues;
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                LaneSums.Clear(lanes);
                for (int s = 0; s < 8; s++)
                {
                    int sc = SubScale(wb, s);
                    byte* qs = wb + 8 + 16 * s;
                    sbyte* y = aq + 32 * s;
                    for (int i = 0; i < 16; i++)
                    {
                        lanes[i >> 2] += sc * kv[qs[i] & 0xF] * y[i];
                        lanes[(i + 16) >> 2] += sc * kv[qs[i] >> 4] * y[i + 16];
                    }
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
