// Q5_1 weights · Q8_0 activations: 32-weight blocks of 5-bit values with an fp16 scale and an fp16 min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Q5_0's unsigned 0..31 weights with Q4_1's min: d·d_a·Σ q·a + m·d_a·Σa, the second term from the
/// activations' block sums (ggml's Q8_1 pairing).
/// </summary>
internal unsafe struct DotQ5_1 : IQuantDot
{
    private const int BlockBytes = 24;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        if (mt == 1) { Dot256Row<TF>(w, nb, a.Q(0), a.D(0), a.S(0), results); return; }
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var accMin = stackalloc float[IntDot.TileRows];
        for (int j = 0; j < mt; j++) { acc[j] = Vector256<float>.Zero; accMin[j] = 0; }
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w), m = WeightBits.Fp16(w + 2);
            var u = IntDot.Nibbles32(w + 8) | WeightBits.FifthBits(Unsafe.ReadUnaligned<uint>(w + 4));
            for (int j = 0; j < mt; j++)
            {
                float da = a.D(j)[b];
                var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, Vector256.Load(a.Q(j) + b * 32));
                acc[j] = LaneSums.Accumulate(acc[j], dot, d * da);
                accMin[j] += m * da * a.S(j)[b];
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]) + accMin[j];
    }

    /// <summary>One activation row (GEMV) with register accumulators; see DotQ4_1.Dot256Row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot256Row<TF>(byte* w, int nb, sbyte* q, float* da, int* sa, float* result) where TF : struct, IDotFlavor
    {
        var acc = Vector256<float>.Zero;
        float accMin = 0;
        for (int b = 0; b < nb; b++, w += BlockBytes, q += 32)
        {
            var u = IntDot.Nibbles32(w + 8) | WeightBits.FifthBits(Unsafe.ReadUnaligned<uint>(w + 4));
            var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, Vector256.Load(q));
            acc = LaneSums.Accumulate(acc, dot, WeightBits.Fp16(w) * da[b]);
            accMin += WeightBits.Fp16(w + 2) * da[b] * sa[b];
        }
        *result = LaneSums.Sum(acc) + accMin;
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            float accMin = 0;
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                float d = WeightBits.Fp16(wb), m = WeightBits.Fp16(wb + 2), da = a.D(j)[b];
                uint qh = Unsafe.ReadUnaligned<uint>(wb + 4);
                byte* qs = wb + 8;
                LaneSums.Clear(lanes);
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += ((qs[i] & 0xF) | (int)((qh >> i) & 1) << 4) * q[i];
                    lanes[(i + 16) >> 2] += ((qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, d * da);
                accMin += m * da * a.S(j)[b];
            }
            results[j] = LaneSums.Sum(acc) + accMin;
        }
    }
}
