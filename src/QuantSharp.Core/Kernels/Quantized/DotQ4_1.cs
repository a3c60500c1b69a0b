// Q4_1 weights · Q8_0 activations: 32-weight blocks of 4-bit values with an fp16 scale and an fp16 min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Σ (d·q + m)·(d_a·a) = d·d_a·Σ q·a + m·d_a·Σ a: the nibbles meet the int8 activations unsigned ×
/// signed, and the min term needs only the block's activation sum, which the Q8_0-style
/// activations already keep (ggml pairs Q4_1 with Q8_1 for the same d·Σa).
/// </summary>
internal unsafe struct DotQ4_1 : IQuantDot
{
    private const int BlockBytes = 20;

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
            var u = IntDot.Nibbles32(w + 4);
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

    /// <summary>
    /// One activation row (GEMV) with the accumulators in registers: the tiled loop keeps them in
    /// stack memory, which puts a store-to-load round trip on every block's dependency chain.
    /// Same operations in the same order, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot256Row<TF>(byte* w, int nb, sbyte* q, float* da, int* sa, float* result) where TF : struct, IDotFlavor
    {
        var acc = Vector256<float>.Zero;
        float accMin = 0;
        for (int b = 0; b < nb; b++, w += BlockBytes, q += 32)
        {
            var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, IntDot.Nibbles32(w + 4), Vector256.Load(q));
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
                byte* qs = wb + 4;
                LaneSums.Clear(lanes);
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += (qs[i] & 0xF) * q[i];
                    lanes[(i + 16) >> 2] += (qs[i] >> 4) * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, d * da);
                accMin += m * da * a.S(j)[b];
            }
            results[j] = LaneSums.Sum(acc) + accMin;
        }
    }
}
