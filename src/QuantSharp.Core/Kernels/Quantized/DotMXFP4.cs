// MXFP4 weights · Q8_0 activations: 32-weight blocks of E2M1 codes (doubled to int8 by a table) under an E8M0 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The IQ4_NL kernel with ggml's MXFP4 table (2 × E2M1, |v| ≤ 12; a zero code contributes 0 whichever
/// sign the activation gets) and the E8M0 scale 2^(e − 128) (Mxfp4Dequant.E8M0Half) in place of fp16.
/// </summary>
internal unsafe struct DotMXFP4 : IQuantDot
{
    private const int BlockBytes = 17;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        if (mt == 1) { Dot256Row<TF>(w, nb, a.Q(0), a.D(0), a.S(0), results); return; }
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = Mxfp4Dequant.E8M0Half(w[0]);
            var v = WeightBits.Mxfp4Values(IntDot.Nibbles32(w + 1));
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
            var v = WeightBits.Mxfp4Values(IntDot.Nibbles32(w + 1));
            var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(v), Avx2.Sign(Vector256.Load(q), v));
            acc = LaneSums.Accumulate(acc, dot, Mxfp4Dequant.E8M0Half(w[0]) * da[b]);
        }
        *result = LaneSums.Sum(acc);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        var kv = Mxfp4Dequant.DoubledValues;
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                byte* qs = wb + 1;
                LaneSums.Clear(lanes);
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += kv[qs[i] & 0xF] * q[i];
                    lanes[(i + 16) >> 2] += kv[qs[i] >> 4] * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, Mxfp4Dequant.E8M0Half(wb[0]) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
