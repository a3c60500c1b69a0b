// Q2_K weights · Q8_K activations: 256-weight super-blocks, sixteen 16-weight sub-blocks of 2-bit values with 4-bit scale and min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Σ w·a = d·Σ_s sc_s·Σ(q·a) − dmin·Σ_s m_s·Σa_s. Each 32-byte load of qs holds four 32-weight
/// runs at bit shifts 0, 2, 4, 6; a run spans two sub-blocks, one per 128-bit lane, so its scale
/// vector is two broadcasts. The min term multiplies the sixteen mins by Q8_K's 16-value sums
/// (vpmulld) into its own lanes and float accumulator.
/// </summary>
internal unsafe struct DotQ2_K : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 84;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var accMin = stackalloc Vector256<float>[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        for (int j = 0; j < mt; j++) { acc[j] = Vector256<float>.Zero; accMin[j] = Vector256<float>.Zero; }
        var three = Vector256.Create((byte)3);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            byte* sc = w;
            float d = WeightBits.Fp16(w + 80), dmin = WeightBits.Fp16(w + 82);
            for (int n = 0; n < 2; n++)
            {
                var raw = Vector256.Load(w + 16 + 32 * n).AsUInt16();
                q[4 * n] = raw.AsByte() & three;
                q[4 * n + 1] = Vector256.ShiftRightLogical(raw, 2).AsByte() & three;
                q[4 * n + 2] = Vector256.ShiftRightLogical(raw, 4).AsByte() & three;
                q[4 * n + 3] = Vector256.ShiftRightLogical(raw, 6).AsByte() & three;
            }
            for (int v = 0; v < 8; v++)
                scale[v] = Vector256.Create(Vector128.Create((short)(sc[2 * v] & 0xF)), Vector128.Create((short)(sc[2 * v + 1] & 0xF)));
            var min0 = Vector256.ShiftRightLogical(Avx2.ConvertToVector256Int32(sc), 4);
            var min1 = Vector256.ShiftRightLogical(Avx2.ConvertToVector256Int32(sc + 8), 4);
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = Vector256<int>.Zero;
                for (int v = 0; v < 8; v++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[v], Vector256.Load(aq + 32 * v)), scale[v]);
                float da = a.D(j)[b];
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * da);
                accMin[j] = LaneSums.Accumulate(accMin[j], LaneSums.Products16(min0, min1, a.S(j) + b * 16), dmin * da);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]) - LaneSums.Sum(accMin[j]);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);

    public static bool Interleaves => true;

    public static bool OddFirst => false;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ2_K>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ2_K>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ2_K>(quad), next, nb, a, j, results);

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
            var packed = src.Load16(ob, 0);
            var (scales, mins) = ScalesAndMins(packed);
            var minSum = RowQuad.FactorSums(mins, asum + b * 16);
            // Written out per sixteen-byte chunk of qs (not a loop): constant offsets and scale shuffles.
            var isum = Chunk(src, ob, 0, scales, aq) + Chunk(src, ob, 1, scales, aq) + Chunk(src, ob, 2, scales, aq) + Chunk(src, ob, 3, scales, aq);
            var dd = src.Words(ob, 80);
            var da = Vector128.Create(ad[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(minSum), RowQuad.Spread(RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16)) * -da), acc);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(RowQuad.Fp16x4(dd) * da), acc);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>A quad block's sixteen bytes of scales (low nibbles) and mins (high nibbles), each as sixteen bytes per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<sbyte> Scales, Vector512<sbyte> Mins) ScalesAndMins(Vector512<byte> packed)
    {
        var nibble = Vector512.Create((byte)0x0F);
        return ((packed & nibble).AsSByte(), (Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble).AsSByte());
    }

    /// <summary>
    /// Chunk <paramref name="k"/> (a constant at every call) of qs — bytes 16k..16k+15, weights 128n + 32i + 16c + l at bit
    /// shift 2i (n = k/2, c = k%2), sub-block 8n + 2i + c — against one activation row's super-block at <paramref name="aq"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Chunk<TQ>(TQ src, nint ob, int k, Vector512<sbyte> scales, sbyte* aq) where TQ : struct, IQuadSource
    {
        var raw = src.Load16(ob, 16 + 16 * k).AsUInt16();
        sbyte* y = aq + 128 * (k >> 1) + 16 * (k & 1);
        return Run(raw, 0, k, scales, y) + Run(raw, 1, k, scales, y) + Run(raw, 2, k, scales, y) + Run(raw, 3, k, scales, y);
    }

    /// <summary>The 2-bit values at shift 2i of a qs chunk (run i of chunk k) against their sixteen activations, scaled by their sub-block's scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Run(Vector512<ushort> raw, int i, int k, Vector512<sbyte> scales, sbyte* y)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Bits(raw, i), RowQuad.Broadcast16(y + 32 * i)), Scale(scales, k, i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Bits(Vector512<ushort> raw, int i) => Vector512.ShiftRightLogical(raw, 2 * i).AsByte() & Vector512.Create((byte)3);

    /// <summary>Scale of sub-block 8n + 2i + c (chunk k = 2n + c, run i) of each lane in all eight int16 of the lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Scale(Vector512<sbyte> scales, int k, int i)
        => Avx512BW.Shuffle(scales, Vector512.Create((short)((8 * (k >> 1) + 2 * i + (k & 1)) | 0x8000)).AsSByte()).AsInt16();

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new InterleavedQuad<DotQ2_K>(quad), next, nb, a, j, mt, results);

    /// <summary>
    /// <see cref="Quad{TQ}"/> for activation rows j..j+3 at once (rows from <paramref name="mt"/> on repeat row
    /// j + mt − 1): each block's 2-bit values and scales are unpacked once for the four rows, and every (weight row,
    /// activation row) pair gets the single-row kernel's integer sums and its two FMAs per block in the same order, so
    /// results are bit-identical to it. results[4t + i] = weight row i · activation row j + t.
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
            var (scales, mins) = ScalesAndMins(src.Load16(ob, 0));
            var dd = src.Words(ob, 80);
            var wd = RowQuad.Fp16x4(dd);
            var wmin = RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16));
            // The min term first, as the single-row kernel adds it first.
            acc0 = MinTerm(acc0, mins, s0 + b * 16, wmin, d0[b]);
            acc1 = MinTerm(acc1, mins, s1 + b * 16, wmin, d1[b]);
            acc2 = MinTerm(acc2, mins, s2 + b * 16, wmin, d2[b]);
            acc3 = MinTerm(acc3, mins, s3 + b * 16, wmin, d3[b]);
            int o = b * 256;
            var t = TileChunk(default, src, ob, 0, scales, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 1, scales, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 2, scales, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileChunk(t, src, ob, 3, scales, q0 + o, q1 + o, q2 + o, q3 + o);
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
    private static TileSums TileChunk<TQ>(TileSums t, TQ src, nint ob, int k, Vector512<sbyte> scales, sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3)
        where TQ : struct, IQuadSource
    {
        var raw = src.Load16(ob, 16 + 16 * k).AsUInt16();
        int o = 128 * (k >> 1) + 16 * (k & 1);
        t = TileSums.AddRun(t, Bits(raw, 0), Scale(scales, k, 0), y0 + o, y1 + o, y2 + o, y3 + o);
        t = TileSums.AddRun(t, Bits(raw, 1), Scale(scales, k, 1), y0 + o + 32, y1 + o + 32, y2 + o + 32, y3 + o + 32);
        t = TileSums.AddRun(t, Bits(raw, 2), Scale(scales, k, 2), y0 + o + 64, y1 + o + 64, y2 + o + 64, y3 + o + 64);
        return TileSums.AddRun(t, Bits(raw, 3), Scale(scales, k, 3), y0 + o + 96, y1 + o + 96, y2 + o + 96, y3 + o + 96);
    }

    /// <summary>acc + (Σ_s m_s·Σa_s)·(dmin·−da), the single-row kernel's first FMA of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MinTerm(Vector512<float> acc, Vector512<sbyte> mins, int* sums16, Vector128<float> wmin, float da)
        => Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(RowQuad.FactorSums(mins, sums16)), RowQuad.Spread(wmin * -Vector128.Create(da)), acc);

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        float* accMin = stackalloc float[8];
        int* lanes = stackalloc int[8];
        int* minLanes = stackalloc int[8];
        int* mins = stackalloc int[16];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            new Span<float>(accMin, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                LaneSums.Clear(lanes);
                LaneSums.Clear(minLanes);
                for (int e = 0; e < 256; e++)
                {
                    // Weight e: byte 32·(e/128) + e%32 of qs, bits 2·((e/32)%4).
                    int qv = (wb[16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
                    lanes[(e & 31) >> 2] += (wb[e >> 4] & 0xF) * qv * aq[e];
                }
                for (int s = 0; s < 16; s++) mins[s] = wb[s] >> 4;
                LaneSums.AddProducts16(minLanes, mins, a.S(j) + b * 16, 1);
                float da = a.D(j)[b];
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb + 80) * da);
                LaneSums.Accumulate(accMin, minLanes, WeightBits.Fp16(wb + 82) * da);
            }
            results[j] = LaneSums.Sum(acc) - LaneSums.Sum(accMin);
        }
    }
}
