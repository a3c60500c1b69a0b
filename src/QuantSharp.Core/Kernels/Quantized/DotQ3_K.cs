// Q3_K weights · Q8_K activations: 256-weight super-blocks, sixteen 16-weight sub-blocks of 3-bit values with 6-bit signed scales.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A weight is (2 low bits | hmask bit·4) − 4, so it enters the dot as an unsigned 0..7 and the −4
/// offset becomes −4·Σ_s sc_s·Σa_s from Q8_K's 16-value sums, added to the same integer lanes
/// (one float scale d for everything). Run v (32 weights, sub-blocks 2v and 2v+1) takes its low
/// bits from qs byte-vector v/4 at shift 2·(v%4) and its high bit from bit v of hmask.
/// </summary>
internal unsafe struct DotQ3_K : IQuantDot
{
    private const int BlockBytes = 110;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        sbyte* sc = stackalloc sbyte[16];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        var three = Vector256.Create((byte)3);
        var four = Vector256.Create((byte)4);
        var bias = Vector256.Create(32);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w + 108);
            var hm = Vector256.Load(w).AsUInt16();
            for (int n = 0; n < 2; n++)
            {
                var raw = Vector256.Load(w + 32 + 32 * n).AsUInt16();
                for (int s = 0; s < 4; s++)
                {
                    int v = 4 * n + s;
                    // Bit v of each hmask byte moved to bit 2; bits shifted in from the neighbour byte are masked off.
                    var high = Vector256.ShiftLeft(Vector256.ShiftRightLogical(hm, v), 2).AsByte() & four;
                    q[v] = (Vector256.ShiftRightLogical(raw, 2 * s).AsByte() & three) | high;
                }
            }
            KQuantDequant.Q3KScales(w + 96, sc);
            for (int v = 0; v < 8; v++)
                scale[v] = Vector256.Create(Vector128.Create((short)(sc[2 * v] - 32)), Vector128.Create((short)(sc[2 * v + 1] - 32)));
            var sc0 = Avx2.ConvertToVector256Int32(sc) - bias;
            var sc1 = Avx2.ConvertToVector256Int32(sc + 8) - bias;
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = -Vector256.ShiftLeft(LaneSums.Products16(sc0, sc1, a.S(j) + b * 16), 2);
                for (int v = 0; v < 8; v++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[v], Vector256.Load(aq + 32 * v)), scale[v]);
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var three = Vector512.Create((byte)3);
        var four = Vector512.Create((byte)4);
        // Q3KScales on dwords [u0, u1, u2] of each lane: out_k = ((u_(k%2) >> 4·(k/2)) & 0x0F) | (((u2 >> 2k) & 3) << 4).
        var pickLow = Vector512.Create(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13).AsUInt32();
        var pickTop = Vector512.Create(2, 2, 2, 2, 6, 6, 6, 6, 10, 10, 10, 10, 14, 14, 14, 14).AsUInt32();
        var lowShift = Vector512.Create(0u, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4);
        var topShift = Vector512.Create(0u, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            // Bytes 94..109 (in bounds), shifted down two bytes so the twelve scale bytes start each lane.
            var packed = Avx512BW.ShiftRightLogical128BitLane(RowQuad.Load16(w0, w1, w2, w3, ob + 94), 2).AsUInt32();
            var sc6 = (Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar16x32(packed, pickLow), lowShift) & Vector512.Create(0x0F0F0F0Fu))
                      | (Vector512.ShiftLeft(Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar16x32(packed, pickTop), topShift) & Vector512.Create(0x03030303u), 4));
            var scales = sc6.AsSByte() - Vector512.Create((sbyte)32);
            var even = RowQuad.SignExtendEven(scales);
            var odd = RowQuad.SignExtendOdd(scales);
            var isum = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, asum + b * 16), 2);
            for (int c = 0; c < 2; c++)
            {
                var hm = RowQuad.Load16(w0, w1, w2, w3, ob + 16 * c).AsUInt16();
                for (int n = 0; n < 2; n++)
                {
                    // qs bytes 32n + 16c + l: weights 128n + 32i + 16c + l at shift 2i, high bit v = 4n + i of hmask byte 16c + l.
                    var raw = RowQuad.Load16(w0, w1, w2, w3, ob + 32 + 32 * n + 16 * c).AsUInt16();
                    sbyte* y = aq + 128 * n + 16 * c;
                    for (int i = 0; i < 4; i++)
                    {
                        int v = 4 * n + i;
                        var high = Vector512.ShiftLeft(Vector512.ShiftRightLogical(hm, v), 2).AsByte() & four;
                        var q = (Vector512.ShiftRightLogical(raw, 2 * i).AsByte() & three) | high;
                        isum += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y + 32 * i)),
                                                             RowQuad.ScaleOf(even, odd, 8 * n + 2 * i + c));
                    }
                }
            }
            // d is the fp16 at 108..109: read the word ending there.
            var d = RowQuad.Fp16x4(Vector128.ShiftRightLogical(RowQuad.Words(w0, w1, w2, w3, ob + 106), 16)) * Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        sbyte* sc = stackalloc sbyte[16];
        int* scales = stackalloc int[16];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                KQuantDequant.Q3KScales(wb + 96, sc);
                for (int s = 0; s < 16; s++) scales[s] = sc[s] - 32;
                LaneSums.Clear(lanes);
                LaneSums.AddProducts16(lanes, scales, a.S(j) + b * 16, -4);
                for (int e = 0; e < 256; e++)
                {
                    int v = e >> 5, l = e & 31;
                    int low = (wb[32 + 32 * (v >> 2) + l] >> (2 * (v & 3))) & 3;
                    int high = (wb[l] >> v) & 1;
                    lanes[l >> 2] += scales[e >> 4] * (low | high << 2) * aq[e];
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb + 108) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
