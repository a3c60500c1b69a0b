// Q3_K weights · Q8_K activations: 256-weight super-blocks, sixteen 16-weight sub-blocks of 3-bit values with 6-bit signed scales.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A weight is (2 low bits | hmask bit·4) − 4, so it enters the dot as an unsigned 0..7 and the −4
/// offset becomes −4·Σ_s sc_s·Σa_s from Q8_K's 16-value sums, added to the same integer lanes
/// (one float scale d for everything). Run v (32 weights, sub-blocks 2v and 2v+1) takes its low
/// bits from qs byte-vector v/4 at shift 2·(v%4) and its high bit from bit v of hmask.
/// </summary>
internal unsafe struct DotQ3_K : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 110;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        sbyte* sc = stackalloc sbyte[16];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        var three = Vector256.Create((byte)3);
        var four = Vector256.Create((byte)4);
        var bias = Vector256.Create(32);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w + 108);
            var hm = Vector256.Load(w).AsUInt16();
            for (int n = 0; n < 2; n++)
            {
                var raw = Vector256.Load(w + 32 + 32 * n).AsUInt16();
                for (int s = 0; s < 4; s++)
                {
                    int v = 4 * n + s;
                    // Bit v of each hmask byte moved to bit 2; bits shifted in from the neighbour byte are masked off.
                    var high = Vector256.ShiftLeft(Vector256.ShiftRightLogical(hm, v), 2).AsByte() & four;
                    q[v] = (Vector256.ShiftRightLogical(raw, 2 * s).AsByte() & three) | high;
                }
            }
            KQuantDequant.Q3KScales(w + 96, sc);
            for (int v = 0; v < 8; v++)
                scale[v] = Vector256.Create(Vector128.Create((short)(sc[2 * v] - 32)), Vector128.Create((short)(sc[2 * v + 1] - 32)));
            var sc0 = Avx2.ConvertToVector256Int32(sc) - bias;
            var sc1 = Avx2.ConvertToVector256Int32(sc + 8) - bias;
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = -Vector256.ShiftLeft(LaneSums.Products16(sc0, sc1, a.S(j) + b * 16), 2);
                for (int v = 0; v < 8; v++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[v], Vector256.Load(aq + 32 * v)), scale[v]);
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);

    public static bool Interleaves => true;

    public static bool OddFirst => false;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ3_K>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ3_K>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ3_K>(quad), next, nb, a, j, results);

    /// <summary>The row-quad kernel over either layout (<see cref="IQuadSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource
    {
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var tail = src.Tail16(ob, BlockBytes);
            var scales = Scales(tail);
            var even = RowQuad.SignExtendEven(scales);
            var odd = RowQuad.SignExtendOdd(scales);
            var isum = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, asum + b * 16), 2);
            // Written out per sixteen-byte chunk (not loops): constant offsets, shifts and scale shuffles.
            isum += Chunk(src, ob, 0, 0, even, odd, aq) + Chunk(src, ob, 0, 1, even, odd, aq)
                    + Chunk(src, ob, 1, 0, even, odd, aq) + Chunk(src, ob, 1, 1, even, odd, aq);
            var d = Scale(tail) * Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>
    /// The sixteen 6-bit scales minus 32 of each lane from the block's last sixteen bytes (94..109: two bytes of qs, the
    /// twelve packed scale bytes, d). Q3KScales on dwords [u0, u1, u2] after the two-byte shift:
    /// out_k = ((u_(k%2) >> 4·(k/2)) &amp; 0x0F) | (((u2 >> 2k) &amp; 3) &lt;&lt; 4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Scales(Vector512<byte> tail)
    {
        var pickLow = Vector512.Create(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13).AsUInt32();
        var pickTop = Vector512.Create(2, 2, 2, 2, 6, 6, 6, 6, 10, 10, 10, 10, 14, 14, 14, 14).AsUInt32();
        var lowShift = Vector512.Create(0u, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4);
        var topShift = Vector512.Create(0u, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
        var packed = Avx512BW.ShiftRightLogical128BitLane(tail, 2).AsUInt32();
        var sc6 = (Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar16x32(packed, pickLow), lowShift) & Vector512.Create(0x0F0F0F0Fu))
                  | (Vector512.ShiftLeft(Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar16x32(packed, pickTop), topShift) & Vector512.Create(0x03030303u), 4));
        return sc6.AsSByte() - Vector512.Create((sbyte)32);
    }

    /// <summary>The block scale d of each row: the fp16 in the last two bytes of each lane of the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Scale(Vector512<byte> tail)
        => RowQuad.Fp16x4(Vector128.ShiftRightLogical(
            Avx512F.PermuteVar16x32(tail.AsInt32(), Vector512.Create(3, 7, 11, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower().GetLower(), 16));

    /// <summary>
    /// qs bytes 32n + 16c + l (constants n, c): weights 128n + 32i + 16c + l at shift 2i, high bit v = 4n + i of hmask
    /// byte 16c + l, sub-block 8n + 2i + c; against one activation row's super-block at <paramref name="aq"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Chunk<TQ>(TQ src, nint ob, int c, int n, Vector512<short> even, Vector512<short> odd, sbyte* aq)
        where TQ : struct, IQuadSource
    {
        var hm = src.Load16(ob, 16 * c).AsUInt16();
        var raw = src.Load16(ob, 32 + 32 * n + 16 * c).AsUInt16();
        sbyte* y = aq + 128 * n + 16 * c;
        return Run(hm, raw, n, 0, c, even, odd, y) + Run(hm, raw, n, 1, c, even, odd, y)
               + Run(hm, raw, n, 2, c, even, odd, y) + Run(hm, raw, n, 3, c, even, odd, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Run(Vector512<ushort> hm, Vector512<ushort> raw, int n, int i, int c, Vector512<short> even, Vector512<short> odd, sbyte* y)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Values(hm, raw, n, i), RowQuad.Broadcast16(y + 32 * i)),
                                        RowQuad.ScaleOf(even, odd, 8 * n + 2 * i + c));

    /// <summary>The unsigned 3-bit values 0..7 of run i of a chunk: two low bits at shift 2i of qs, bit 4n + i of hmask as bit 2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Values(Vector512<ushort> hm, Vector512<ushort> raw, int n, int i)
    {
        // Bit v of each hmask byte moved to bit 2; bits shifted in from the neighbour byte are masked off.
        var high = Vector512.ShiftLeft(Vector512.ShiftRightLogical(hm, 4 * n + i), 2).AsByte() & Vector512.Create((byte)4);
        return (Vector512.ShiftRightLogical(raw, 2 * i).AsByte() & Vector512.Create((byte)3)) | high;
    }

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new InterleavedQuad<DotQ3_K>(quad), next, nb, a, j, mt, results);

    /// <summary>
    /// <see cref="Quad{TQ}"/> for activation rows j..j+3 at once (rows from <paramref name="mt"/> on repeat row
    /// j + mt − 1): each block's 3-bit values and scales are unpacked once for the four rows; every (weight row,
    /// activation row) pair gets the single-row kernel's integer sums and its one FMA per block, so results are
    /// bit-identical to it. results[4t + i] = weight row i · activation row j + t.
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
            var tail = src.Tail16(ob, BlockBytes);
            var scales = Scales(tail);
            var even = RowQuad.SignExtendEven(scales);
            var odd = RowQuad.SignExtendOdd(scales);
            TileSums t;
            t.R0 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, s0 + b * 16), 2);
            t.R1 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, s1 + b * 16), 2);
            t.R2 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, s2 + b * 16), 2);
            t.R3 = Vector512<int>.Zero - Vector512.ShiftLeft(RowQuad.FactorSums(scales, s3 + b * 16), 2);
            int o = b * 256;
            t = TileChunk(t, src, ob, 0, 0, even, odd, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 0, 1, even, odd, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 1, 0, even, odd, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 1, 1, even, odd, q0 + o, q1 + o, q2 + o, q3 + o);
            var wd = Scale(tail);
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

    /// <summary><see cref="Chunk{TQ}"/> against four activation rows (each pointing at its super-block): values and scales unpacked once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TileSums TileChunk<TQ>(TileSums t, TQ src, nint ob, int c, int n, Vector512<short> even, Vector512<short> odd,
        sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3) where TQ : struct, IQuadSource
    {
        var hm = src.Load16(ob, 16 * c).AsUInt16();
        var raw = src.Load16(ob, 32 + 32 * n + 16 * c).AsUInt16();
        int o = 128 * n + 16 * c;
        t = TileSums.AddRun(t, Values(hm, raw, n, 0), RowQuad.ScaleOf(even, odd, 8 * n + c), y0 + o, y1 + o, y2 + o, y3 + o);
        t = TileSums.AddRun(t, Values(hm, raw, n, 1), RowQuad.ScaleOf(even, odd, 8 * n + 2 + c), y0 + o + 32, y1 + o + 32, y2 + o + 32, y3 + o + 32);
        t = TileSums.AddRun(t, Values(hm, raw, n, 2), RowQuad.ScaleOf(even, odd, 8 * n + 4 + c), y0 + o + 64, y1 + o + 64, y2 + o + 64, y3 + o + 64);
        return TileSums.AddRun(t, Values(hm, raw, n, 3), RowQuad.ScaleOf(even, odd, 8 * n + 6 + c), y0 + o + 96, y1 + o + 96, y2 + o + 96, y3 + o + 96);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        sbyte* sc = stackalloc sbyte[16];
        int* scales = stackalloc int[16];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                KQuantDequant.Q3KScales(wb + 96, sc);
                for (int s = 0; s < 16; s++) scales[s] = sc[s] - 32;
                LaneSums.Clear(lanes);
                LaneSums.AddProducts16(lanes, scales, a.S(j) + b * 16, -4);
                for (int e = 0; e < 256; e++)
                {
                    int v = e >> 5, l = e & 31;
                    int low = (wb[32 + 32 * (v >> 2) + l] >> (2 * (v & 3))) & 3;
                    int high = (wb[l] >> v) & 1;
                    lanes[l >> 2] += scales[e >> 4] * (low | high << 2) * aq[e];
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb + 108) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
