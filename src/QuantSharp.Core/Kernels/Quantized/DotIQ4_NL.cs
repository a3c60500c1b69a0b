// IQ4_NL weights · Q8_0 activations: 32-weight blocks of 4-bit indices into a non-linear int8 table, fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// vpshufb turns the nibbles into the table's signed values (|v| ≤ 127, never 0); as in Q8_0 the
/// sign moves onto the activation so the dot is |v| (u8) × sign(a, v) (s8).
/// </summary>
internal unsafe struct DotIQ4_NL : IQuantDot
{
    private const int BlockBytes = 18;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        if (mt == 1) { Dot256Row<TF>(w, nb, a.Q(0), a.D(0), a.S(0), results); return; }
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w);
            var v = WeightBits.Iq4Values(IntDot.Nibbles32(w + 2));
            var u = Avx2.Abs(v);
            for (int j = 0; j < mt; j++)
            {
                var s = Avx2.Sign(Vector256.Load(a.Q(j) + b * 32), v);
                var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, s);
                acc[j] = LaneSums.Accumulate(acc[j], dot, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    /// <summary>One activation row (GEMV) with a register accumulator; see DotQ4_1.Dot256Row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot256Row<TF>(byte* w, int nb, sbyte* q, float* da, int* sa, float* result) where TF : struct, IDotFlavor
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes, q += 32)
        {
            var v = WeightBits.Iq4Values(IntDot.Nibbles32(w + 2));
            var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(v), Avx2.Sign(Vector256.Load(q), v));
            acc = LaneSums.Accumulate(acc, dot, WeightBits.Fp16(w) * da[b]);
        }
        *result = LaneSums.Sum(acc);
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
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                byte* qs = wb + 2;
                LaneSums.Clear(lanes);
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += kv[qs[i] & 0xF] * q[i];
                    lanes[(i + 16) >> 2] += kv[qs[i] >> 4] * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
