// IQ4_XS weights · Q8_K activations: 256-weight super-blocks of IQ4_NL-style values, eight 32-weight sub-blocks with 6-bit scales.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Each sub-block's nibbles go through the non-linear table (vpshufb), the sign moves onto the
/// activations, vpmaddubsw gives int16 pairs (≤ 2·127·127) and vpmaddwd/vpdpwssd applies the
/// sub-block scale ls − 32. No offset, so the activation sums are not needed.
/// A block is d (fp16), scales_h (2 bits per sub-block), scales_l (4 bits per sub-block), then
/// 8 × 16 bytes of indices; the row-quad kernel reads the 8-byte head of the four rows at once.
/// </summary>
internal unsafe struct DotIQ4_XS : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 136;

    public static bool SuperBlocks => true;

    /// <summary>Sub-block <paramref name="ib"/>'s scale: 4 low bits from scales_l, 2 high bits from scales_h, minus 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SubScale(byte* block, int ib)
    {
        int scalesH = Unsafe.ReadUnaligned<ushort>(block + 2);
        return (((block[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4)) - 32;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var u = stackalloc Vector256<byte>[8];
        var v = stackalloc Vector256<sbyte>[8];
        var scale = stackalloc Vector256<short>[8];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w);
            for (int s = 0; s < 8; s++)
            {
                v[s] = WeightBits.Iq4Values(IntDot.Nibbles32(w + 8 + 16 * s));
                u[s] = Avx2.Abs(v[s]);
                scale[s] = Vector256.Create((short)SubScale(w, s));
            }
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = Vector256<int>.Zero;
                for (int s = 0; s < 8; s++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(u[s], Avx2.Sign(Vector256.Load(aq + 32 * s), v[s])), scale[s]);
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        if (a.HasSignPlanes) Quad<RowPointers, WeightSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);
        else Quad<RowPointers, ActivationSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);
    }

    public static bool SignPlanes => true;

    public static bool Interleaves => true;

    /// <summary>The head's 8 bytes are the odd bytes (136 mod 16) and open the block.</summary>
    public static bool OddFirst => true;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotIQ4_XS>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotIQ4_XS>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
    {
        if (a.HasSignPlanes) Quad<InterleavedQuad<DotIQ4_XS>, WeightSigns>(new InterleavedQuad<DotIQ4_XS>(quad), next, nb, a, j, results);
        else Quad<InterleavedQuad<DotIQ4_XS>, ActivationSigns>(new InterleavedQuad<DotIQ4_XS>(quad), next, nb, a, j, results);
    }

    /// <summary>
    /// The row-quad kernel over either layout (<see cref="IQuadSource"/>). Row lane l sums, over the
    /// eight sub-blocks, scale × (weights 4l..4l+3 and 16+4l..16+4l+3 of the sub-block), exact in
    /// integers; one conversion and one FMA by d·da per super-block. <typeparamref name="TS"/>: how the signs are
    /// applied (<see cref="IIq4Signs"/>; the same integers either way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ, TS>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource where TS : struct, IIq4Signs
    {
        var row = new Iq4ActRow(a, j);
        float* ad = a.D(j);
        var acc = Vector512<float>.Zero;
        nint ob = 0, at = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, at += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var head = src.Load8(ob, 0);
            var sc = SubScales(head);
            // Written out per sub-block (not a loop) so each load offset and scale shuffle is a constant (see DotQ4_K.Quarter).
            var isum = ((SubBlock<TQ, TS>(src, ob, 0, row, at, sc) + SubBlock<TQ, TS>(src, ob, 1, row, at, sc))
                        + (SubBlock<TQ, TS>(src, ob, 2, row, at, sc) + SubBlock<TQ, TS>(src, ob, 3, row, at, sc)))
                       + ((SubBlock<TQ, TS>(src, ob, 4, row, at, sc) + SubBlock<TQ, TS>(src, ob, 5, row, at, sc))
                          + (SubBlock<TQ, TS>(src, ob, 6, row, at, sc) + SubBlock<TQ, TS>(src, ob, 7, row, at, sc)));
            var d = RowQuad.Fp16x4(HeadWords(head)) * Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
    {
        if (a.HasSignPlanes) QuadTile<RowPointers, WeightSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);
        else QuadTile<RowPointers, ActivationSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);
    }

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
    {
        if (a.HasSignPlanes) QuadTile<InterleavedQuad<DotIQ4_XS>, WeightSigns>(new InterleavedQuad<DotIQ4_XS>(quad), next, nb, a, j, mt, results);
        else QuadTile<InterleavedQuad<DotIQ4_XS>, ActivationSigns>(new InterleavedQuad<DotIQ4_XS>(quad), next, nb, a, j, mt, results);
    }

    /// <summary>
    /// <see cref="Quad{TQ, TS}"/> for activation rows j..j+3 at once (rows from <paramref name="mt"/> on repeat
    /// row j + mt − 1): each super-block's scales and indices are unpacked once for the four; every
    /// (weight row, activation row) pair gets the single-row kernel's exact integer lanes and its float
    /// operations, so results are bit-identical to it. results[4t + i] = weight row i · activation row j + t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuadTile<TQ, TS>(TQ src, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        where TQ : struct, IQuadSource where TS : struct, IIq4Signs
    {
        int j1 = j + Math.Min(1, mt - 1), j2 = j + Math.Min(2, mt - 1), j3 = j + Math.Min(3, mt - 1);
        var r0 = new Iq4ActRow(a, j);
        var r1 = new Iq4ActRow(a, j1);
        var r2 = new Iq4ActRow(a, j2);
        var r3 = new Iq4ActRow(a, j3);
        float* d0 = a.D(j), d1 = a.D(j1), d2 = a.D(j2), d3 = a.D(j3);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var head = src.Load8(ob, 0);
            var sc = SubScales(head);
            var wd = RowQuad.Fp16x4(HeadWords(head));
            // Written out per sub-block: constant offsets and shuffles, as in Quad. Integer sums are exact,
            // so adding the sub-blocks in another order than Quad gives the same lanes.
            nint o = b * 256;
            var t = TileSubBlock<TQ, TS>(default, src, ob, 0, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 1, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 2, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 3, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 4, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 5, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 6, sc, r0, r1, r2, r3, o);
            t = TileSubBlock<TQ, TS>(t, src, ob, 7, sc, r0, r1, r2, r3, o);
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

    /// <summary>Sub-block <paramref name="s"/> (a constant at every call) of a quad block against four activation rows' super-blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TileSums TileSubBlock<TQ, TS>(TileSums t, TQ src, nint ob, int s, Vector512<short> sc,
        in Iq4ActRow r0, in Iq4ActRow r1, in Iq4ActRow r2, in Iq4ActRow r3, nint at)
        where TQ : struct, IQuadSource where TS : struct, IIq4Signs
    {
        var u = TS.Unpack(src.Load16(ob, 8 + 16 * s));
        var scale = Scale(sc, s);
        at += 32 * s;
        t.R0 += SubBlockDot<TS>(u, scale, r0, at);
        t.R1 += SubBlockDot<TS>(u, scale, r1, at);
        t.R2 += SubBlockDot<TS>(u, scale, r2, at);
        t.R3 += SubBlockDot<TS>(u, scale, r3, at);
        return t;
    }

    /// <summary>Sub-block <paramref name="s"/> (a constant at every call) of a quad block against row <paramref name="r"/>'s super-block at <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> SubBlock<TQ, TS>(TQ src, nint ob, int s, in Iq4ActRow r, nint at, Vector512<short> sc)
        where TQ : struct, IQuadSource where TS : struct, IIq4Signs
    {
        var u = TS.Unpack(src.Load16(ob, 8 + 16 * s));
        return SubBlockDot<TS>(u, Scale(sc, s), r, at + 32 * s);
    }

    /// <summary>scale × (unpacked sub-block · row <paramref name="r"/>'s 32 activations at <paramref name="at"/>), four int32 lanes per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> SubBlockDot<TS>(in Iq4Quad.Unpacked u, Vector512<short> scale, in Iq4ActRow r, nint at) where TS : struct, IIq4Signs
    {
        TS.Pairs(u, r, at, out var low, out var high);
        return Avx512BW.MultiplyAddAdjacent(low, scale) + Avx512BW.MultiplyAddAdjacent(high, scale);
    }

    /// <summary>The heads' first 32-bit words (d in the low 16 bits, for <see cref="RowQuad.Fp16x4"/>), row i in element i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> HeadWords(Vector256<ulong> head) => Avx512F.VL.ConvertToVector128Int32(head.AsInt64());

    /// <summary>
    /// The eight sub-block scales ls − 32 of each row as int16, row i's in 128-bit lane i (element s = sub-block s),
    /// from the four rows' heads (row i's 16-bit words 4i..4i+3: d, scales_h, scales_l low, scales_l high): two
    /// word permutes bring each element its row's scales_l half and scales_h, two variable shifts its bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<short> SubScales(Vector256<ulong> head)
    {
        var words = head.AsInt16().ToVector512Unsafe();
        var lowPick = Vector512.Create(
            (short)2, 2, 2, 2, 3, 3, 3, 3, 6, 6, 6, 6, 7, 7, 7, 7, 10, 10, 10, 10, 11, 11, 11, 11, 14, 14, 14, 14, 15, 15, 15, 15);
        var highPick = Vector512.Create(
            (short)1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5, 9, 9, 9, 9, 9, 9, 9, 9, 13, 13, 13, 13, 13, 13, 13, 13);
        // Written out in full: a lane broadcast of a 128-bit constant is rebuilt with two inserts at every use.
        var lowShift = Vector512.Create(
            (ushort)0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
        var highShift = Vector512.Create(
            (ushort)0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
        var low = Avx512BW.ShiftRightLogicalVariable(Avx512BW.PermuteVar32x16(words, lowPick).AsUInt16(), lowShift) & Vector512.Create((ushort)0x0F);
        var high = Vector512.ShiftLeft(Avx512BW.ShiftRightLogicalVariable(Avx512BW.PermuteVar32x16(words, highPick).AsUInt16(), highShift) & Vector512.Create((ushort)3), 4);
        return (low | high).AsInt16() - Vector512.Create((short)32);
    }

    /// <summary>Scale <paramref name="s"/> of each lane (int16 element s) in all eight int16 of the lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Scale(Vector512<short> sc, int s)
        => Avx512BW.Shuffle(sc.AsSByte(), Vector512.Create((short)(2 * s | (2 * s + 1) << 8)).AsSByte()).AsInt16();

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        var kv = LegacyDequant.Iq4NlValues;
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                LaneSums.Clear(lanes);
                for (int s = 0; s < 8; s++)
                {
                    int sc = SubScale(wb, s);
                    byte* qs = wb + 8 + 16 * s;
                    sbyte* y = aq + 32 * s;
                    for (int i = 0; i < 16; i++)
                    {
                        lanes[i >> 2] += sc * kv[qs[i] & 0xF] * y[i];
                        lanes[(i + 16) >> 2] += sc * kv[qs[i] >> 4] * y[i + 16];
                    }
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
