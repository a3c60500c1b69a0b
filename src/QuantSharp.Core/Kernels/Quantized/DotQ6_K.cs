// Q6_K weights · Q8_K activations: 256-weight super-blocks, sixteen 16-weight sub-blocks with int8 scales.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Weights are rebuilt as unsigned 6-bit values (0..63, low nibble from ql, two high bits from qh);
/// the −32 offset becomes −32·Σ_s sc_s·Σa_s from the activations' 16-value sums, seeded into the
/// integer accumulator, so a super-block's dot is exact before its single multiply by d·d_a.
/// </summary>
internal unsafe struct DotQ6_K : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 210;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Register accumulators; a row's arithmetic does not depend on mt (see DotQ4_0).
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        var low = Vector256.Create((byte)0x0F);
        var high = Vector256.Create((byte)0x30);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = IntDot.Half(w + 208);
            sbyte* sc = (sbyte*)(w + 192);
            // Vector v covers weights 32v..32v+31, i.e. sub-blocks 2v and 2v+1 (one per 128-bit lane).
            for (int h = 0; h < 2; h++)
            {
                var ql0 = Vector256.Load(w + 64 * h);
                var ql1 = Vector256.Load(w + 64 * h + 32);
                var qh = Vector256.Load(w + 128 + 32 * h).AsUInt16();
                q[4 * h] = (ql0 & low) | (Vector256.ShiftLeft(qh, 4).AsByte() & high);
                q[4 * h + 1] = (ql1 & low) | (Vector256.ShiftLeft(qh, 2).AsByte() & high);
                q[4 * h + 2] = (Vector256.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & low) | (qh.AsByte() & high);
                q[4 * h + 3] = (Vector256.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & low) | (Vector256.ShiftRightLogical(qh, 2).AsByte() & high);
            }
            for (int v = 0; v < 8; v++)
                scale[v] = Vector256.Create(Vector128.Create((short)sc[2 * v]), Vector128.Create((short)sc[2 * v + 1]));
            // The sixteen sub-block scales as int32, for the −32 offset term.
            var sc0 = Avx2.ConvertToVector256Int32(sc);
            var sc1 = Avx2.ConvertToVector256Int32(sc + 8);
            acc0 = Step<TF>(acc0, q, scale, sc0, sc1, d, a, 0, b);
            if (mt > 1)
            {
                acc1 = Step<TF>(acc1, q, scale, sc0, sc1, d, a, 1, b);
                if (mt > 2)
                {
                    acc2 = Step<TF>(acc2, q, scale, sc0, sc1, d, a, 2, b);
                    if (mt > 3) acc3 = Step<TF>(acc3, q, scale, sc0, sc1, d, a, 3, b);
                }
            }
        }
        results[0] = Vector256.Sum(acc0);
        if (mt > 1) results[1] = Vector256.Sum(acc1);
        if (mt > 2) results[2] = Vector256.Sum(acc2);
        if (mt > 3) results[3] = Vector256.Sum(acc3);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);

    public static bool Interleaves => true;

    public static bool OddFirst => false;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ6_K>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ6_K>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ6_K>(quad), next, nb, a, j, results);

    /// <summary>The row-quad kernel over either layout (<see cref="IQuadSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource
    {
        // Per super-block: the −32 offset as −32·Σ_s sc_s·Σa_s (exact), then for each 16-byte slice
        // of ql/qh four 16-weight sub-blocks of all four rows, each weighted by its row's int8 scale
        // in int32; one conversion and FMA by d·d_a per super-block.
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            // Row i's sixteen int8 scales in lane i: sign-extended to int16 (even and odd ones) and the −32 offset term.
            var sc = src.Load16(ob, 192).AsSByte();
            var scEven = RowQuad.SignExtendEven(sc);
            var scOdd = RowQuad.SignExtendOdd(sc);
            var isum = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(sc, asum + b * 16), 5);

            // Written out per slice (not loops over h and c) so each load offset and scale shuffle is a constant.
            isum += Slice(src, ob, 0, 0, aq, scEven, scOdd) + Slice(src, ob, 0, 1, aq, scEven, scOdd);
            isum += Slice(src, ob, 1, 0, aq, scEven, scOdd) + Slice(src, ob, 1, 1, aq, scEven, scOdd);
            // d is the fp16 at 208..209.
            var d = RowQuad.Fp16x4(src.Halves(ob, 208)) * Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>
    /// Slice (h, c) of a quad block against one activation row: weights 128h + 32t + 16c + (0..15) form
    /// sub-block 8h + 2t + c (t = 0..3). Callers pass constants, so once inlined the interleaved layout's
    /// offsets and the scale shuffles fold to constants (loops over h and c left the JIT computing them
    /// per iteration).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Slice<TQ>(TQ src, nint ob, int h, int c, sbyte* aq, Vector512<short> scEven, Vector512<short> scOdd) where TQ : struct, IQuadSource
    {
        var low = Vector512.Create((byte)0x0F);
        var high = Vector512.Create((byte)0x30);
        int o = 64 * h + 16 * c;
        var ql0 = src.Load16(ob, o);
        var ql1 = src.Load16(ob, o + 32);
        var qh = src.Load16(ob, 128 + 32 * h + 16 * c).AsUInt16();
        sbyte* y = aq + 128 * h + 16 * c;
        int s = 8 * h + c;
        return (SubBlock((ql0 & low) | (Vector512.ShiftLeft(qh, 4).AsByte() & high), y, RowQuad.ScaleOf(scEven, scOdd, s))
                + SubBlock((ql1 & low) | (Vector512.ShiftLeft(qh, 2).AsByte() & high), y + 32, RowQuad.ScaleOf(scEven, scOdd, s + 2)))
               + (SubBlock((Vector512.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & low) | (qh.AsByte() & high), y + 64, RowQuad.ScaleOf(scEven, scOdd, s + 4))
                + SubBlock((Vector512.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & low) | (Vector512.ShiftRightLogical(qh, 2).AsByte() & high), y + 96, RowQuad.ScaleOf(scEven, scOdd, s + 6)));
    }

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new InterleavedQuad<DotQ6_K>(quad), next, nb, a, j, mt, results);

    /// <summary>
    /// <see cref="Quad{TQ}"/> for activation rows j..j+3 (rows from <paramref name="mt"/> on repeat row
    /// j + mt − 1): each block's 6-bit values and scales are unpacked once for the four; every (weight row,
    /// activation row) pair gets the single-row kernel's operations, so the same bits.
    /// results[4t + i] = weight row i · activation row j + t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuadTile<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, int mt, float* results) where TQ : struct, IQuadSource
    {
        int j1 = j + Math.Min(1, mt - 1), j2 = j + Math.Min(2, mt - 1), j3 = j + Math.Min(3, mt - 1);
        sbyte* q0 = a.Q(j), q1 = a.Q(j1), q2 = a.Q(j2), q3 = a.Q(j3);
        float* d0 = a.D(j), d1 = a.D(j1), d2 = a.D(j2), d3 = a.D(j3);
        int* s0 = a.S(j), s1 = a.S(j1), s2 = a.S(j2), s3 = a.S(j3);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var sc = src.Load16(ob, 192).AsSByte();
            var scEven = RowQuad.SignExtendEven(sc);
            var scOdd = RowQuad.SignExtendOdd(sc);
            var t = new TileSums
            {
                R0 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(sc, s0 + b * 16), 5),
                R1 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(sc, s1 + b * 16), 5),
                R2 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(sc, s2 + b * 16), 5),
                R3 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(sc, s3 + b * 16), 5),
            };
            int ab = b * 256;
            // Written out per slice (not loops over h and c): constant offsets and shuffles, as in Quad.
            t = TileSlice(t, src, ob, 0, 0, scEven, scOdd, q0 + ab, q1 + ab, q2 + ab, q3 + ab);
            t = TileSlice(t, src, ob, 0, 1, scEven, scOdd, q0 + ab, q1 + ab, q2 + ab, q3 + ab);
            t = TileSlice(t, src, ob, 1, 0, scEven, scOdd, q0 + ab, q1 + ab, q2 + ab, q3 + ab);
            t = TileSlice(t, src, ob, 1, 1, scEven, scOdd, q0 + ab, q1 + ab, q2 + ab, q3 + ab);
            var wd = RowQuad.Fp16x4(src.Halves(ob, 208));
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R0), RowQuad.Spread(wd * Vector128.Create(d0[b])), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R1), RowQuad.Spread(wd * Vector128.Create(d1[b])), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R2), RowQuad.Spread(wd * Vector128.Create(d2[b])), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R3), RowQuad.Spread(wd * Vector128.Create(d3[b])), acc3);
        }
        RowQuad.Sum(acc0, results);
        RowQuad.Sum(acc1, results + 4);
        RowQuad.Sum(acc2, results + 8);
        RowQuad.Sum(acc3, results + 12);
    }

    /// <summary>Slice (h, c) (constants at every call) of a quad block against four activation rows (see <see cref="Slice{TQ}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TileSums TileSlice<TQ>(TileSums t, TQ src, nint ob, int h, int c, Vector512<short> scEven, Vector512<short> scOdd,
        sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3) where TQ : struct, IQuadSource
    {
        var low = Vector512.Create((byte)0x0F);
        var high = Vector512.Create((byte)0x30);
        int o = 64 * h + 16 * c;
        var ql0 = src.Load16(ob, o);
        var ql1 = src.Load16(ob, o + 32);
        var qh = src.Load16(ob, 128 + 32 * h + 16 * c).AsUInt16();
        int s = 8 * h + c, y = 128 * h + 16 * c;
        var qa = (ql0 & low) | (Vector512.ShiftLeft(qh, 4).AsByte() & high);
        var qb = (ql1 & low) | (Vector512.ShiftLeft(qh, 2).AsByte() & high);
        var qc = (Vector512.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & low) | (qh.AsByte() & high);
        var qd = (Vector512.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & low) | (Vector512.ShiftRightLogical(qh, 2).AsByte() & high);
        var sa = RowQuad.ScaleOf(scEven, scOdd, s);
        var sb = RowQuad.ScaleOf(scEven, scOdd, s + 2);
        var sc = RowQuad.ScaleOf(scEven, scOdd, s + 4);
        var sd = RowQuad.ScaleOf(scEven, scOdd, s + 6);
        t.R0 = FourSubBlocks(t.R0, qa, qb, qc, qd, sa, sb, sc, sd, y0 + y);
        t.R1 = FourSubBlocks(t.R1, qa, qb, qc, qd, sa, sb, sc, sd, y1 + y);
        t.R2 = FourSubBlocks(t.R2, qa, qb, qc, qd, sa, sb, sc, sd, y2 + y);
        t.R3 = FourSubBlocks(t.R3, qa, qb, qc, qd, sa, sb, sc, sd, y3 + y);
        return t;
    }

    /// <summary>The four sub-blocks of one (h, c) slice against one activation row, in the single-row kernel's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> FourSubBlocks(Vector512<int> isum, Vector512<byte> qa, Vector512<byte> qb, Vector512<byte> qc, Vector512<byte> qd,
        Vector512<short> sa, Vector512<short> sb, Vector512<short> sc, Vector512<short> sd, sbyte* y)
    {
        isum += SubBlock(qa, y, sa);
        isum += SubBlock(qb, y + 32, sb);
        isum += SubBlock(qc, y + 64, sc);
        return isum + SubBlock(qd, y + 96, sd);
    }

    /// <summary>Σ q·a of one 16-weight sub-block per row (int16 pairs) times the row's int16 sub-block scale, in int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> SubBlock(Vector512<byte> q, sbyte* y, Vector512<short> scale)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y)), scale);

    /// <summary>One super-block against activation row j; the −32·Σ sc·Σa correction seeds every lane (exact integers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step<TF>(Vector256<float> acc, Vector256<byte>* q, Vector256<short>* scale, Vector256<int> sc0, Vector256<int> sc1,
        float d, in ActTile a, int j, int b) where TF : struct, IDotFlavor
    {
        sbyte* aq = a.Q(j) + b * 256;
        int* bs = a.S(j) + b * 16;
        var corr = Avx2.MultiplyLow(sc0, Vector256.Load(bs)) + Avx2.MultiplyLow(sc1, Vector256.Load(bs + 8));
        var sumi = Vector256<int>.Zero - Vector256.ShiftLeft(corr, 5);
        for (int v = 0; v < 8; v++)
            sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[v], Vector256.Load(aq + 32 * v)), scale[v]);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(d * a.D(j)[b]), acc);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        for (int j = 0; j < mt; j++)
        {
            float acc = 0;
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                sbyte* sc = (sbyte*)(wb + 192);
                int sumi = 0;
                for (int h = 0; h < 2; h++)
                {
                    byte* ql = wb + 64 * h, qh = wb + 128 + 32 * h;
                    sbyte* y = aq + 128 * h;
                    int s0 = 8 * h;
                    for (int l = 0; l < 32; l++)
                    {
                        int s = s0 + l / 16;
                        sumi += sc[s] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * y[l];
                        sumi += sc[s + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * y[l + 32];
                        sumi += sc[s + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * y[l + 64];
                        sumi += sc[s + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * y[l + 96];
                    }
                }
                acc += IntDot.Half(wb + 208) * a.D(j)[b] * sumi;
            }
            results[j] = acc;
        }
    }
}
