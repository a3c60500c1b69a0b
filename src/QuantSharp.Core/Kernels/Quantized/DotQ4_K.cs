// Q4_K weights · Q8_K activations: 256-weight super-blocks, eight 32-weight sub-blocks with 6-bit scale and min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Σ w·a = d·Σ_s sc_s·Σ(q·a) − dmin·Σ_s m_s·Σa. The first part is vpmaddubsw (nibble × int8 →
/// int16 pairs, at most 2·15·127) then vpmaddwd/vpdpwssd by the sub-block scale; the second uses
/// the activations' 16-value sums, so both stay exact integers until the two final multiplies.
/// </summary>
internal unsafe struct DotQ4_K : IQuantDot
{
    private const int BlockBytes = 144;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var accMin = stackalloc float[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        int* mins = stackalloc int[8];
        for (int j = 0; j < mt; j++) { acc[j] = Vector256<float>.Zero; accMin[j] = 0; }
        var mask = Vector256.Create((byte)0x0F);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = IntDot.Half(w), dmin = IntDot.Half(w + 2);
            for (int s = 0; s < 8; s++)
            {
                KQuantDequant.ScaleMinK4(s, w + 4, out int sc, out mins[s]);
                scale[s] = Vector256.Create((short)sc);
            }
            for (int c = 0; c < 4; c++)
            {
                var v = Vector256.Load(w + 16 + 32 * c);
                q[2 * c] = v & mask;
                q[2 * c + 1] = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
            }
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                int* bs = a.S(j) + b * 16;
                var sumi = Vector256<int>.Zero;
                int summ = 0;
                for (int s = 0; s < 8; s++)
                {
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[s], Vector256.Load(aq + 32 * s)), scale[s]);
                    summ += mins[s] * (bs[2 * s] + bs[2 * s + 1]);
                }
                float da = a.D(j)[b];
                acc[j] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(d * da), acc[j]);
                accMin[j] += dmin * da * summ;
            }
        }
        for (int j = 0; j < mt; j++) results[j] = Vector256.Sum(acc[j]) - accMin[j];
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        for (int j = 0; j < mt; j++)
        {
            float acc = 0, accMin = 0;
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                int* bs = a.S(j) + b * 16;
                int sumi = 0, summ = 0;
                for (int s = 0; s < 8; s++)
                {
                    KQuantDequant.ScaleMinK4(s, wb + 4, out int sc, out int mn);
                    byte* qs = wb + 16 + 32 * (s / 2);
                    int shift = 4 * (s % 2), sub = 0;
                    for (int l = 0; l < 32; l++) sub += ((qs[l] >> shift) & 0xF) * aq[32 * s + l];
                    sumi += sc * sub;
                    summ += mn * (bs[2 * s] + bs[2 * s + 1]);
                }
                float da = a.D(j)[b];
                acc += IntDot.Half(wb) * da * sumi;
                accMin += IntDot.Half(wb + 2) * da * summ;
            }
            results[j] = acc - accMin;
        }
    }
}
