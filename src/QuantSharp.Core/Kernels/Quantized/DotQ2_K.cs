// Q2_K weights · Q8_K activations: 256-weight super-blocks, sixteen 16-weight sub-blocks of 2-bit values with 4-bit scale and min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Σ w·a = d·Σ_s sc_s·Σ(q·a) − dmin·Σ_s m_s·Σa_s. Each 32-byte load of qs holds four 32-weight
/// runs at bit shifts 0, 2, 4, 6; a run spans two sub-blocks, one per 128-bit lane, so its scale
/// vector is two broadcasts. The min term multiplies the sixteen mins by Q8_K's 16-value sums
/// (vpmulld) into its own lanes and float accumulator.
/// </summary>
internal unsafe struct DotQ2_K : IQuantDot
{
    private const int BlockBytes = 84;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var accMin = stackalloc Vector256<float>[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        for (int j = 0; j < mt; j++) { acc[j] = Vector256<float>.Zero; accMin[j] = Vector256<float>.Zero; }
        var three = Vector256.Create((byte)3);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            byte* sc = w;
            float d = WeightBits.Fp16(w + 80), dmin = WeightBits.Fp16(w + 82);
            for (int n = 0; n < 2; n++)
            {
                var raw = Vector256.Load(w + 16 + 32 * n).AsUInt16();
                q[4 * n] = raw.AsByte() & three;
                q[4 * n + 1] = Vector256.ShiftRightLogical(raw, 2).AsByte() & three;
                q[4 * n + 2] = Vector256.ShiftRightLogical(raw, 4).AsByte() & three;
                q[4 * n + 3] = Vector256.ShiftRightLogical(raw, 6).AsByte() & three;
            }
            for (int v = 0; v < 8; v++)
                scale[v] = Vector256.Create(Vector128.Create((short)(sc[2 * v] & 0xF)), Vector128.Create((short)(sc[2 * v + 1] & 0xF)));
            var min0 = Vector256.ShiftRightLogical(Avx2.ConvertToVector256Int32(sc), 4);
            var min1 = Vector256.ShiftRightLogical(Avx2.ConvertToVector256Int32(sc + 8), 4);
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = Vector256<int>.Zero;
                for (int v = 0; v < 8; v++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[v], Vector256.Load(aq + 32 * v)), scale[v]);
                float da = a.D(j)[b];
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * da);
                accMin[j] = LaneSums.Accumulate(accMin[j], LaneSums.Products16(min0, min1, a.S(j) + b * 16), dmin * da);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]) - LaneSums.Sum(accMin[j]);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var three = Vector512.Create((byte)3);
        var nibble = Vector512.Create((byte)0x0F);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var packed = RowQuad.Load16(w0, w1, w2, w3, ob);
            var scales = (packed & nibble).AsSByte();
            var minSum = RowQuad.FactorSums(Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte().AsSByte() & nibble.AsSByte(), asum + b * 16);
            var isum = Vector512<int>.Zero;
            for (int k = 0; k < 4; k++)
            {
                // qs bytes 16k..16k+15: weights 128n + 32i + 16c + l at bit shift 2i (n = k/2, c = k%2), sub-block 8n + 2i + c.
                int n = k >> 1, c = k & 1;
                var raw = RowQuad.Load16(w0, w1, w2, w3, ob + 16 + 16 * k).AsUInt16();
                sbyte* y = aq + 128 * n + 16 * c;
                for (int i = 0; i < 4; i++)
                {
                    var q = Vector512.ShiftRightLogical(raw, 2 * i).AsByte() & three;
                    int sub = 8 * n + 2 * i + c;
                    var scale = Avx512BW.Shuffle(scales, Vector512.Create((short)(sub | 0x8000)).AsSByte()).AsInt16();
                    isum += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y + 32 * i)), scale);
                }
            }
            var dd = RowQuad.Words(w0, w1, w2, w3, ob + 80);
            var da = Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(minSum), RowQuad.Spread(RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16)) * -da), acc);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(RowQuad.Fp16x4(dd) * da), acc);
        }
        RowQuad.Sum(acc, results);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        float* accMin = stackalloc float[8];
        int* lanes = stackalloc int[8];
        int* minLanes = stackalloc int[8];
        int* mins = stackalloc int[16];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            new Span<float>(accMin, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                LaneSums.Clear(lanes);
                LaneSums.Clear(minLanes);
                for (int e = 0; e < 256; e++)
                {
                    // Weight e: byte 32·(e/128) + e%32 of qs, bits 2·((e/32)%4).
                    int qv = (wb[16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
                    lanes[(e & 31) >> 2] += (wb[e >> 4] & 0xF) * qv * aq[e];
                }
                for (int s = 0; s < 16; s++) mins[s] = wb[s] >> 4;
                LaneSums.AddProducts16(minLanes, mins, a.S(j) + b * 16, 1);
                float da = a.D(j)[b];
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb + 80) * da);
                LaneSums.Accumulate(accMin, minLanes, WeightBits.Fp16(wb + 82) * da);
            }
            results[j] = LaneSums.Sum(acc) - LaneSums.Sum(accMin);
        }
    }
}
