// Q5_0 weights · Q8_0 activations: 32-weight blocks of 5-bit values offset by 16, fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The nibble and the fifth bit (0x10 per byte from the 32-bit plane) form an unsigned 0..31 that
/// goes straight into the u8 × s8 dot; the −16 offset is −16·Σa, exact in integers and seeded
/// into lane 0 as Q4_0 does with −8.
/// </summary>
internal unsafe struct DotQ5_0 : IQuantDot
{
    private const int BlockBytes = 22;

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
            var u = IntDot.Nibbles32(w + 6) | WeightBits.FifthBits(Unsafe.ReadUnaligned<uint>(w + 2));
            for (int j = 0; j < mt; j++)
            {
                var seed = Vector256.CreateScalar(-16 * a.S(j)[b]);
                var dot = IntDot.U8S8<TF>(seed, u, Vector256.Load(a.Q(j) + b * 32));
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
            var u = IntDot.Nibbles32(w + 6) | WeightBits.FifthBits(Unsafe.ReadUnaligned<uint>(w + 2));
            var dot = IntDot.U8S8<TF>(Vector256.CreateScalar(-16 * sa[b]), u, Vector256.Load(q));
            acc = LaneSums.Accumulate(acc, dot, WeightBits.Fp16(w) * da[b]);
        }
        *result = LaneSums.Sum(acc);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                uint qh = Unsafe.ReadUnaligned<uint>(wb + 2);
                byte* qs = wb + 6;
                LaneSums.Clear(lanes);
                lanes[0] = -16 * a.S(j)[b];
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += ((qs[i] & 0xF) | (int)((qh >> i) & 1) << 4) * q[i];
                    lanes[(i + 16) >> 2] += ((qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
