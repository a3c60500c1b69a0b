// Q8_0 weights · Q8_0 activations: 32-weight blocks of int8 with an fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Both sides are signed, and vpdpbusd/vpmaddubsw want unsigned × signed, so the weight's sign is
/// moved onto the activation: |w| · sign(a, w) = w · a (|w| ≤ 127 as ggml never stores −128).
/// </summary>
internal unsafe struct DotQ8_0 : IQuantDot
{
    private const int BlockBytes = 34;

    public static bool SuperBlocks => false;

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        // Signed × signed without the sign trick: both sides widened to int16 and multiplied in
        // pairs (vpmaddwd), one row per register; the four rows' sixteen pair sums are then folded
        // to four lanes per row (lane l of row i: pair sums l, l+4, l+8, l+12, as fixed below).
        sbyte* q = a.Q(j);
        float* d = a.D(j);
        var firstHalves = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        var secondHalves = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        var firstQuarters = Vector512.Create(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        var secondQuarters = Vector512.Create(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        var acc = Vector512<float>.Zero;
        nint off = 0;
        for (int b = 0; b < nb; b++, off += BlockBytes, q += 32)
        {
            RowQuad.PrefetchNext(next, off, BlockBytes);
            var av = Avx512BW.ConvertToVector512Int16(Vector256.Load(q));
            var p0 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w0 + off + 2))), av);
            var p1 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w1 + off + 2))), av);
            var p2 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w2 + off + 2))), av);
            var p3 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(w3 + off + 2))), av);
            var p01 = Avx512F.PermuteVar16x32x2(p0, firstHalves, p1) + Avx512F.PermuteVar16x32x2(p0, secondHalves, p1);
            var p23 = Avx512F.PermuteVar16x32x2(p2, firstHalves, p3) + Avx512F.PermuteVar16x32x2(p2, secondHalves, p3);
            var dot = Avx512F.PermuteVar16x32x2(p01, firstQuarters, p23) + Avx512F.PermuteVar16x32x2(p01, secondQuarters, p23);
            var scale = RowQuad.Fp16x4(RowQuad.Words(w0, w1, w2, w3, off)) * Vector128.Create(d[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), RowQuad.Spread(scale), acc);
        }
        RowQuad.Sum(acc, results);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Register accumulators; a row's arithmetic does not depend on mt (see DotQ4_0).
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float dw = IntDot.Half(w);
            var wq = Vector256.Load((sbyte*)(w + 2));
            var u = Avx2.Abs(wq);
            acc0 = Step<TF>(acc0, u, wq, dw, q0, d0, b);
            if (mt > 1)
            {
                acc1 = Step<TF>(acc1, u, wq, dw, q1, d1, b);
                if (mt > 2)
                {
                    acc2 = Step<TF>(acc2, u, wq, dw, q2, d2, b);
                    if (mt > 3) acc3 = Step<TF>(acc3, u, wq, dw, q3, d3, b);
                }
            }
        }
        results[0] = Vector256.Sum(acc0);
        if (mt > 1) results[1] = Vector256.Sum(acc1);
        if (mt > 2) results[2] = Vector256.Sum(acc2);
        if (mt > 3) results[3] = Vector256.Sum(acc3);
    }

    public static bool PairRows => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256Rows2<TF>(byte* w0, byte* w1, int nb, in ActTile a, float* results) where TF : struct, IDotFlavor
    {
        // Per row exactly Step's operations in Dot256 (mt = 1); only the activation side is shared.
        Vector256<float> acc0 = default, acc1 = default;
        sbyte* q = a.Q(0);
        float* d = a.D(0);
        for (int b = 0; b < nb; b++, w0 += BlockBytes, w1 += BlockBytes)
        {
            var av = Vector256.Load(q + b * 32);
            var da = Vector256.Create(d[b]);
            var wq0 = Vector256.Load((sbyte*)(w0 + 2));
            var wq1 = Vector256.Load((sbyte*)(w1 + 2));
            var dot0 = IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(wq0), Avx2.Sign(av, wq0));
            var dot1 = IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(wq1), Avx2.Sign(av, wq1));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Vector256.Create(IntDot.Half(w0)) * da, acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Vector256.Create(IntDot.Half(w1)) * da, acc1);
        }
        results[0] = Vector256.Sum(acc0);
        results[1] = Vector256.Sum(acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step<TF>(Vector256<float> acc, Vector256<byte> u, Vector256<sbyte> wq, float dw, sbyte* q, float* d, int b) where TF : struct, IDotFlavor
    {
        var s = Avx2.Sign(Vector256.Load(q + b * 32), wq);
        var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, s);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(dw) * Vector256.Create(d[b]), acc);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        for (int j = 0; j < mt; j++)
        {
            float acc = 0;
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                sbyte* wq = (sbyte*)(wb + 2);
                int sum = 0;
                for (int i = 0; i < 32; i++) sum += wq[i] * q[i];
                acc += IntDot.Half(wb) * a.D(j)[b] * sum;
            }
            results[j] = acc;
        }
    }
}
