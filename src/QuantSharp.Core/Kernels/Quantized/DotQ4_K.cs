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
internal unsafe struct DotQ4_K : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 144;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Register accumulators; a row's arithmetic does not depend on mt (see DotQ4_0).
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        uint* sm = stackalloc uint[4];
        var mask = Vector256.Create((byte)0x0F);
        // Order of the pair sums that vphaddd produces in Step: sub-blocks 0,1,4,5 | 2,3,6,7.
        var minOrder = Vector256.Create(0, 1, 4, 5, 2, 3, 6, 7);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = IntDot.Half(w), dmin = IntDot.Half(w + 2);
            // The twelve packed bytes to eight 6-bit scales (bytes 0..7 of sm) and eight mins
            // (bytes 8..15) with four 32-bit masks instead of sixteen byte extractions.
            uint u0 = Unsafe.ReadUnaligned<uint>(w + 4), u1 = Unsafe.ReadUnaligned<uint>(w + 8), u2 = Unsafe.ReadUnaligned<uint>(w + 12);
            sm[0] = u0 & 0x3F3F3F3F;
            sm[1] = (u2 & 0x0F0F0F0F) | (((u0 >> 6) & 0x03030303) << 4);
            sm[2] = u1 & 0x3F3F3F3F;
            sm[3] = ((u2 >> 4) & 0x0F0F0F0F) | (((u1 >> 6) & 0x03030303) << 4);
            byte* scales = (byte*)sm;
            for (int s = 0; s < 8; s++) scale[s] = Vector256.Create((short)scales[s]);
            var minv = Avx2.PermuteVar8x32(Avx2.ConvertToVector256Int32(scales + 8), minOrder);
            for (int c = 0; c < 4; c++)
            {
                var v = Vector256.Load(w + 16 + 32 * c);
                q[2 * c] = v & mask;
                q[2 * c + 1] = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
            }
            acc0 = Step<TF>(acc0, q, scale, minv, d, dmin, a, 0, b);
            if (mt > 1)
            {
                acc1 = Step<TF>(acc1, q, scale, minv, d, dmin, a, 1, b);
                if (mt > 2)
                {
                    acc2 = Step<TF>(acc2, q, scale, minv, d, dmin, a, 2, b);
                    if (mt > 3) acc3 = Step<TF>(acc3, q, scale, minv, d, dmin, a, 3, b);
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

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ4_K>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ4_K>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ4_K>(quad), next, nb, a, j, results);

    /// <summary>The row-quad kernel over either layout (<see cref="IQuadSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource
    {
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var nibble = Vector512.Create((byte)0x0F);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var head = src.Load16(ob, 0);
            var sm = ScalesAndMins(head);
            var minSum = MinSum(sm, asum + b * 16);

            // Written out per quarter (not a loop) so each load offset and scale shuffle is a constant.
            var isum = (Quarter(src, ob, 0, aq, sm, nibble) + Quarter(src, ob, 1, aq, sm, nibble))
                       + (Quarter(src, ob, 2, aq, sm, nibble) + Quarter(src, ob, 3, aq, sm, nibble));
            var dd = RowQuad.FirstWords(head); // d | dmin of each row
            var da = Vector128.Create(ad[b]);
            var d = RowQuad.Fp16x4(dd) * da;
            var dmin = RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16)) * -da;
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(minSum), RowQuad.Spread(dmin), acc);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>
    /// Quarter <paramref name="k"/> of a quad block against one activation row: bytes 32k..32k+31 of qs, whose
    /// low nibbles are sub-block 2k and high nibbles 2k+1. Callers pass a constant k, so once inlined the
    /// interleaved layout's offsets and the scale shuffles fold to constants (a loop over k left the JIT
    /// computing them per iteration: about 40 scalar instructions per quarter).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Quarter<TQ>(TQ src, nint ob, int k, sbyte* aq, Vector512<sbyte> sm, Vector512<byte> nibble) where TQ : struct, IQuadSource
    {
        var v0 = src.Load16(ob, 16 + 32 * k);
        var v1 = src.Load16(ob, 32 + 32 * k);
        sbyte* y = aq + 64 * k;
        var pLow = Avx512BW.MultiplyAddAdjacent(v0 & nibble, RowQuad.Broadcast16(y))
                   + Avx512BW.MultiplyAddAdjacent(v1 & nibble, RowQuad.Broadcast16(y + 16));
        var pHigh = Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble, RowQuad.Broadcast16(y + 32))
                    + Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble, RowQuad.Broadcast16(y + 48));
        return Avx512BW.MultiplyAddAdjacent(pLow, Scale(sm, 2 * k)) + Avx512BW.MultiplyAddAdjacent(pHigh, Scale(sm, 2 * k + 1));
    }

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new InterleavedQuad<DotQ4_K>(quad), next, nb, a, j, mt, results);

    /// <summary>
    /// <see cref="Quad{TQ}"/> for activation rows j..j+3 at once (rows from <paramref name="mt"/> on repeat
    /// row j + mt − 1): each block's scales and nibbles are unpacked once for the four, and every
    /// (weight row, activation row) pair gets exactly the single-row kernel's operations in its
    /// order, so results are bit-identical to it. results[4t + i] = weight row i · activation row j + t.
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
            var head = src.Load16(ob, 0);
            var sm = ScalesAndMins(head);
            var dd = RowQuad.FirstWords(head);
            var wd = RowQuad.Fp16x4(dd);
            var wmin = RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16));
            // The min term first, as the single-row kernel adds it first.
            acc0 = MinTerm(acc0, sm, s0 + b * 16, wmin, d0[b]);
            acc1 = MinTerm(acc1, sm, s1 + b * 16, wmin, d1[b]);
            acc2 = MinTerm(acc2, sm, s2 + b * 16, wmin, d2[b]);
            acc3 = MinTerm(acc3, sm, s3 + b * 16, wmin, d3[b]);
            // Written out per quarter (not a loop): constant offsets and shuffles, as in Quad.
            int o = b * 256;
            var t = TileQuarter(default, src, ob, 0, sm, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 1, sm, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 2, sm, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 3, sm, q0 + o, q1 + o, q2 + o, q3 + o);
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

    /// <summary>Quarter <paramref name="k"/> (a constant at every call) of a quad block against four activation rows, each offset by 64k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TileSums TileQuarter<TQ>(TileSums t, TQ src, nint ob, int k, Vector512<sbyte> sm, sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3)
        where TQ : struct, IQuadSource
    {
        var nibble = Vector512.Create((byte)0x0F);
        var v0 = src.Load16(ob, 16 + 32 * k);
        var v1 = src.Load16(ob, 32 + 32 * k);
        var l0 = v0 & nibble;
        var l1 = v1 & nibble;
        var h0 = Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble;
        var h1 = Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble;
        var sc0 = Scale(sm, 2 * k);
        var sc1 = Scale(sm, 2 * k + 1);
        int o = 64 * k;
        t.R0 += SubBlocks(l0, l1, h0, h1, sc0, sc1, y0 + o);
        t.R1 += SubBlocks(l0, l1, h0, h1, sc0, sc1, y1 + o);
        t.R2 += SubBlocks(l0, l1, h0, h1, sc0, sc1, y2 + o);
        t.R3 += SubBlocks(l0, l1, h0, h1, sc0, sc1, y3 + o);
        return t;
    }

    /// <summary>acc + (Σ_s m_s·Σa_s)·(dmin·−da), the single-row kernel's first FMA of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> MinTerm(Vector512<float> acc, Vector512<sbyte> sm, int* sums16, Vector128<float> wmin, float da)
        => Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(MinSum(sm, sums16)), RowQuad.Spread(wmin * -Vector128.Create(da)), acc);

    /// <summary>Sub-blocks 2k and 2k+1 of the quad against one activation row's 64 values at <paramref name="y"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> SubBlocks(Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> h0, Vector512<byte> h1,
        Vector512<short> sc0, Vector512<short> sc1, sbyte* y)
    {
        var pLow = Avx512BW.MultiplyAddAdjacent(l0, RowQuad.Broadcast16(y)) + Avx512BW.MultiplyAddAdjacent(l1, RowQuad.Broadcast16(y + 16));
        var pHigh = Avx512BW.MultiplyAddAdjacent(h0, RowQuad.Broadcast16(y + 32)) + Avx512BW.MultiplyAddAdjacent(h1, RowQuad.Broadcast16(y + 48));
        return Avx512BW.MultiplyAddAdjacent(pLow, sc0) + Avx512BW.MultiplyAddAdjacent(pHigh, sc1);
    }

    /// <summary>
    /// Per lane (row) a block's first 16 bytes are dwords [d|dmin, u0, u1, u2]; the packed 6-bit scales
    /// and mins become bytes [sc0..7, m0..7] of the lane as in <see cref="KQuantDequant.ScaleMinK4"/>
    /// (shared with Q5_K, whose block starts the same way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<sbyte> ScalesAndMins(Vector512<byte> head16)
    {
        var head = head16.AsUInt32();
        var pickLow = Vector512.Create(1, 3, 2, 3, 5, 7, 6, 7, 9, 11, 10, 11, 13, 15, 14, 15).AsUInt32();
        var pickHigh = Vector512.Create(1, 1, 2, 2, 5, 5, 6, 6, 9, 9, 10, 10, 13, 13, 14, 14).AsUInt32();
        var lowShift = Vector512.Create(0u, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4);
        var lowMask = Vector512.Create(0x3F3F3F3Fu, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F,
                                       0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F);
        var highMask = Vector512.Create(0u, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030,
                                        0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030);
        return ((Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar16x32(head, pickLow), lowShift) & lowMask)
                | (Vector512.ShiftLeft(Vector512.ShiftRightLogical(Avx512F.PermuteVar16x32(head, pickHigh), 6), 4) & highMask)).AsSByte();
    }

    /// <summary>Σ_s m_s·Σa_s per row (four int32 lanes per row), Σa over each 32-value sub-block from Q8_K's 16-value sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> MinSum(Vector512<sbyte> sm, int* sums16)
    {
        // Mins (bytes 8..15 of each lane) zero-extended to int16.
        var minsPick = RowQuad.EveryLane(Vector128.Create(unchecked((short)0x8008), unchecked((short)0x8009), unchecked((short)0x800A), unchecked((short)0x800B),
                                                          unchecked((short)0x800C), unchecked((short)0x800D), unchecked((short)0x800E), unchecked((short)0x800F))).AsSByte();
        var sums = Avx512F.ConvertToVector256Int16(Vector512.Load(sums16));
        var pairSums = Avx2.MultiplyAddAdjacent(sums, Vector256<short>.One);
        var subSums = RowQuad.EveryLane(Vector128.Narrow(pairSums.GetLower(), pairSums.GetUpper()));
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.Shuffle(sm, minsPick).AsInt16(), subSums);
    }

    /// <summary>Scale byte <paramref name="s"/> of each lane (0..63) zero-extended into all eight int16 of the lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<short> Scale(Vector512<sbyte> sm, int s)
        => Avx512BW.Shuffle(sm, Vector512.Create((short)(s | 0x8000)).AsSByte()).AsInt16();

    /// <summary>One super-block against activation row j: d·da·Σ sc·(q·a) − dmin·da·Σ m·Σa, lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step<TF>(Vector256<float> acc, Vector256<byte>* q, Vector256<short>* scale, Vector256<int> minv,
        float d, float dmin, in ActTile a, int j, int b) where TF : struct, IDotFlavor
    {
        sbyte* aq = a.Q(j) + b * 256;
        int* bs = a.S(j) + b * 16;
        var sumi = Vector256<int>.Zero;
        for (int s = 0; s < 8; s++)
            sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[s], Vector256.Load(aq + 32 * s)), scale[s]);
        var summ = Avx2.MultiplyLow(Avx2.HorizontalAdd(Vector256.Load(bs), Vector256.Load(bs + 8)), minv);
        float da = a.D(j)[b];
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(summ), Vector256.Create(-dmin * da), acc);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(d * da), acc);
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
