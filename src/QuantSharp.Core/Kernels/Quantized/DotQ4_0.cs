// Q4_0 weights · Q8_0 activations: 32-weight blocks of 4-bit values offset by 8, fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The nibbles (0..15) go straight in as the unsigned operand; the −8 offset is applied exactly in
/// integers as −8·Σa, seeded into lane 0 of the block's accumulator from the precomputed block sum.
/// </summary>
internal unsafe struct DotQ4_0 : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 18;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Accumulators are locals, not an array, so they stay in registers; a row's arithmetic is
        // the same whatever mt is, so an M-row product equals its M = 1 rows bit for bit, and it is
        // Dot512Quad's (QuadLanes), so AVX2 and AVX-512 agree too.
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        int* s0 = a.S(0), s1 = a.S(Math.Min(1, mt - 1)), s2 = a.S(Math.Min(2, mt - 1)), s3 = a.S(Math.Min(3, mt - 1));
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float dw = IntDot.Half(w);
            var u = IntDot.Nibbles32(w + 2);
            acc0 = Step<TF>(acc0, u, dw, q0, d0, s0, b);
            if (mt > 1)
            {
                acc1 = Step<TF>(acc1, u, dw, q1, d1, s1, b);
                if (mt > 2)
                {
                    acc2 = Step<TF>(acc2, u, dw, q2, d2, s2, b);
                    if (mt > 3) acc3 = Step<TF>(acc3, u, dw, q3, d3, s3, b);
                }
            }
        }
        results[0] = QuadLanes.Sum(acc0);
        if (mt > 1) results[1] = QuadLanes.Sum(acc1);
        if (mt > 2) results[2] = QuadLanes.Sum(acc2);
        if (mt > 3) results[3] = QuadLanes.Sum(acc3);
    }

    public static bool PairRows => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256Rows2<TF>(byte* w0, byte* w1, int nb, in ActTile a, float* results) where TF : struct, IDotFlavor
    {
        // Per row exactly Step's operations in Dot256 (mt = 1); only the activation side is shared.
        Vector128<float> acc0 = default, acc1 = default;
        sbyte* q = a.Q(0);
        float* d = a.D(0);
        int* s = a.S(0);
        for (int b = 0; b < nb; b++, w0 += BlockBytes, w1 += BlockBytes)
        {
            var av = Vector256.Load(q + b * 32);
            var seed = Vector128.CreateScalar(-8 * s[b]);
            var dot0 = QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, IntDot.Nibbles32(w0 + 2), av)) + seed;
            var dot1 = QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, IntDot.Nibbles32(w1 + 2), av)) + seed;
            acc0 = QuadLanes.Accumulate(acc0, dot0, IntDot.Half(w0) * d[b]);
            acc1 = QuadLanes.Accumulate(acc1, dot1, IntDot.Half(w1) * d[b]);
        }
        results[0] = QuadLanes.Sum(acc0);
        results[1] = QuadLanes.Sum(acc1);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);

    public static bool Interleaves => true;

    public static bool OddFirst => true;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ4_0>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ4_0>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ4_0>(quad), next, nb, a, j, results);

    /// <summary>The row-quad kernel over either layout (<see cref="IQuadSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource
    {
        // Row lane l sums weights 4l..4l+3 (low nibbles) and 16+4l..16+4l+3 (high nibbles); the −8
        // offset is −8·Σa in lane 0 of each row, exact in integers before the one FMA per block.
        sbyte* q = a.Q(j);
        float* d = a.D(j);
        int* s = a.S(j);
        var low = Vector512.Create((byte)0x0F);
        var firstLane = Vector512.Create(-1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0);
        var acc = Vector512<float>.Zero;
        nint off = 0;
        int b = 0;
        // Two blocks per pass: their eight fp16 scales are converted together (the same lane-wise
        // operations as one block at a time, so the same bits); the blocks are accumulated in order.
        for (; b + 2 <= nb; b += 2, off += 2 * BlockBytes, q += 64)
        {
            RowQuad.PrefetchNext(next, off, 2 * BlockBytes);
            var scales = RowQuad.Fp16x8(Vector256.Create(src.Halves(off, 0), src.Halves(off + BlockBytes, 0)))
                         * Vector256.Create(Vector128.Create(d[b]), Vector128.Create(d[b + 1]));
            acc = Block(src.Load16(off, 2), q, s[b], scales.GetLower(), acc, low, firstLane);
            acc = Block(src.Load16(off + BlockBytes, 2), q + 32, s[b + 1], scales.GetUpper(), acc, low, firstLane);
        }
        for (; b < nb; b++, off += BlockBytes, q += 32)
        {
            RowQuad.PrefetchNext(next, off, BlockBytes);
            var scale = RowQuad.Fp16x4(src.Halves(off, 0)) * Vector128.Create(d[b]);
            acc = Block(src.Load16(off, 2), q, s[b], scale, acc, low, firstLane);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>One block of the quad: nibbles · activations, the −8 offset in lane 0 of each row, one FMA by the rows' scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Block(Vector512<byte> packed, sbyte* q, int sum, Vector128<float> scale, Vector512<float> acc,
        Vector512<byte> low, Vector512<int> firstLane)
    {
        var lo = packed & low;
        var hi = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & low;
        var dot = RowQuad.U8S8Twice(lo, RowQuad.Broadcast16(q), hi, RowQuad.Broadcast16(q + 16)) + (Vector512.Create(-8 * sum) & firstLane);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), RowQuad.Spread(scale), acc);
    }

    public static bool GemmTiles => true;

    /// <summary>The quad block is d of the four rows then their chunks; the octet block the scale header then both quads' chunks.</summary>
    public static bool OctetsFromQuads => true;

    /// <summary>Per block: quad 0's and quad 1's scales spread to 16 floats each (row i in lanes 4i..4i+3), then their 4×16 nibble bytes (row i in 128-bit lane i).</summary>
    public static int OctetBlockBytes => 256;

    public static void PackOctet(byte** rows, int nb, byte* dst)
    {
        for (int b = 0; b < nb; b++, dst += 256)
        {
            for (int i = 0; i < 8; i++)
            {
                byte* block = rows[i] + (nint)b * BlockBytes;
                // WeightBits.Fp16 is bit-identical to RowQuad.Fp16x4 (tested on all 65,536 patterns).
                Octet.StoreScale(dst, i, WeightBits.Fp16(block));
                Vector128.Store(Vector128.Load(block + 2), dst + 128 + i * 16);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile512(byte* p, int nb, in ActTile a, int mt, float* results)
    {
        // Per (row, activation row) exactly Dot512Quad's arithmetic: the same integer lanes (the
        // −8 offset as −8·Σa in the row's lane 0), fma(cvt(dot), scale·d, acc) per block and the
        // same final sum. Scale spread then multiplied equals multiplied then spread, lane by lane.
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        int* s0 = a.S(0), s1 = a.S(Math.Min(1, mt - 1)), s2 = a.S(Math.Min(2, mt - 1)), s3 = a.S(Math.Min(3, mt - 1));
        var low = Vector512.Create((byte)0x0F);
        var firstLane = Vector512.Create(-1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0);
        Vector512<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default, c3a = default, c3b = default;
        for (int b = 0; b < nb; b++, p += 256)
        {
            var pa = Vector512.Load(p + 128);
            var pb = Vector512.Load(p + 192);
            var loA = pa & low;
            var hiA = Vector512.ShiftRightLogical(pa.AsUInt16(), 4).AsByte() & low;
            var loB = pb & low;
            var hiB = Vector512.ShiftRightLogical(pb.AsUInt16(), 4).AsByte() & low;
            var scA = Vector512.Load((float*)p);
            var scB = Vector512.Load((float*)(p + 64));
            nint qo = (nint)b * 32;

            var x0 = RowQuad.Broadcast16(q0 + qo); var x1 = RowQuad.Broadcast16(q0 + qo + 16);
            var seed = (Vector512.Create(s0[b]) & firstLane) << 3; var dv = Vector512.Create(d0[b]);
            c0a = TileStep(c0a, loA, hiA, x0, x1, seed, scA * dv);
            c0b = TileStep(c0b, loB, hiB, x0, x1, seed, scB * dv);

            x0 = RowQuad.Broadcast16(q1 + qo); x1 = RowQuad.Broadcast16(q1 + qo + 16);
            seed = (Vector512.Create(s1[b]) & firstLane) << 3; dv = Vector512.Create(d1[b]);
            c1a = TileStep(c1a, loA, hiA, x0, x1, seed, scA * dv);
            c1b = TileStep(c1b, loB, hiB, x0, x1, seed, scB * dv);

            x0 = RowQuad.Broadcast16(q2 + qo); x1 = RowQuad.Broadcast16(q2 + qo + 16);
            seed = (Vector512.Create(s2[b]) & firstLane) << 3; dv = Vector512.Create(d2[b]);
            c2a = TileStep(c2a, loA, hiA, x0, x1, seed, scA * dv);
            c2b = TileStep(c2b, loB, hiB, x0, x1, seed, scB * dv);

            x0 = RowQuad.Broadcast16(q3 + qo); x1 = RowQuad.Broadcast16(q3 + qo + 16);
            seed = (Vector512.Create(s3[b]) & firstLane) << 3; dv = Vector512.Create(d3[b]);
            c3a = TileStep(c3a, loA, hiA, x0, x1, seed, scA * dv);
            c3b = TileStep(c3b, loB, hiB, x0, x1, seed, scB * dv);
        }
        Octet.Store(results, c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
    }

    /// <summary>
    /// One quad × one activation row × one block of <see cref="Tile512"/>: Dot512Quad's loop body, the offset
    /// subtracted as 8·Σa (<paramref name="seed"/>: Σa in each row's lane 0, shifted) — the same exact integers as
    /// adding −8·Σa, with the broadcast, mask and shift done in vector registers (three instructions where the
    /// scalar multiply, negate and register broadcast took five).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> TileStep(Vector512<float> acc, Vector512<byte> lo, Vector512<byte> hi, Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<int> seed, Vector512<float> scale)
        => Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(RowQuad.U8S8Twice(lo, x0, hi, x1) - seed), scale, acc);

    /// <summary>One block of one row against activation row q: Dot512Quad's lanes, offset and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Step<TF>(Vector128<float> acc, Vector256<byte> u, float dw, sbyte* q, float* d, int* s, int b) where TF : struct, IDotFlavor
    {
        var dot = QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, u, Vector256.Load(q + b * 32))) + Vector128.CreateScalar(-8 * s[b]);
        return QuadLanes.Accumulate(acc, dot, dw * d[b]);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[4];
        int* lanes = stackalloc int[4];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 4).Clear();
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                BlockLanes(wb + 2, q, a.S(j)[b], lanes);
                QuadLanes.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = QuadLanes.Sum(acc);
        }
    }

    /// <summary>The four exact int32 lanes of one block (16 nibble bytes at <paramref name="qs"/>) against 32 activations with sum <paramref name="sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BlockLanes(byte* qs, sbyte* q, int sum, int* lanes)
    {
        for (int l = 0; l < 4; l++)
        {
            int v = 0;
            for (int i = 4 * l; i < 4 * l + 4; i++) v += (qs[i] & 0xF) * q[i] + (qs[i] >> 4) * q[i + 16];
            lanes[l] = v;
        }
        lanes[0] -= 8 * sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile256<TF>(byte* p, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Each row quad of the octet in turn, as two row pairs (row i of the pair in 128-bit lane i)
        // against four activation rows: eight accumulators, which fit AVX2's sixteen registers.
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        int* s0 = a.S(0), s1 = a.S(Math.Min(1, mt - 1)), s2 = a.S(Math.Min(2, mt - 1)), s3 = a.S(Math.Min(3, mt - 1));
        var low = Vector256.Create((byte)0x0F);
        for (int quad = 0; quad < 2; quad++)
        {
            Vector256<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default, c3a = default, c3b = default;
            byte* pb = p + 64 * quad;
            for (int b = 0; b < nb; b++, pb += 256)
            {
                var pa = Vector256.Load(pb + 128);
                var pc = Vector256.Load(pb + 160);
                var loA = pa & low;
                var hiA = Vector256.ShiftRightLogical(pa.AsUInt16(), 4).AsByte() & low;
                var loB = pc & low;
                var hiB = Vector256.ShiftRightLogical(pc.AsUInt16(), 4).AsByte() & low;
                var scA = Vector256.Load((float*)pb);
                var scB = Vector256.Load((float*)(pb + 32));
                nint qo = (nint)b * 32;

                var x0 = Broadcast16(q0 + qo); var x1 = Broadcast16(q0 + qo + 16);
                var seed = QuadLanes.FirstLanes(-8 * s0[b]); var dv = Vector256.Create(d0[b]);
                c0a = PairStep<TF>(c0a, loA, hiA, x0, x1, seed, scA * dv);
                c0b = PairStep<TF>(c0b, loB, hiB, x0, x1, seed, scB * dv);

                x0 = Broadcast16(q1 + qo); x1 = Broadcast16(q1 + qo + 16);
                seed = QuadLanes.FirstLanes(-8 * s1[b]); dv = Vector256.Create(d1[b]);
                c1a = PairStep<TF>(c1a, loA, hiA, x0, x1, seed, scA * dv);
                c1b = PairStep<TF>(c1b, loB, hiB, x0, x1, seed, scB * dv);

                x0 = Broadcast16(q2 + qo); x1 = Broadcast16(q2 + qo + 16);
                seed = QuadLanes.FirstLanes(-8 * s2[b]); dv = Vector256.Create(d2[b]);
                c2a = PairStep<TF>(c2a, loA, hiA, x0, x1, seed, scA * dv);
                c2b = PairStep<TF>(c2b, loB, hiB, x0, x1, seed, scB * dv);

                x0 = Broadcast16(q3 + qo); x1 = Broadcast16(q3 + qo + 16);
                seed = QuadLanes.FirstLanes(-8 * s3[b]); dv = Vector256.Create(d3[b]);
                c3a = PairStep<TF>(c3a, loA, hiA, x0, x1, seed, scA * dv);
                c3b = PairStep<TF>(c3b, loB, hiB, x0, x1, seed, scB * dv);
            }
            Octet.StoreQuad(results + 4 * quad, c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
        }
    }

    /// <summary>The 16 bytes at <paramref name="p"/> in both 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast16(sbyte* p) => Avx2.BroadcastVector128ToVector256(p);

    /// <summary>One row pair × one activation row × one block of <see cref="Tile256"/>: Step's arithmetic for both rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PairStep<TF>(Vector256<float> acc, Vector256<byte> lo, Vector256<byte> hi, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> seed, Vector256<float> scale) where TF : struct, IDotFlavor
        => Fma.MultiplyAdd(Avx.ConvertToVector256Single(IntDot.U8S8Twice<TF>(seed, lo, x0, hi, x1)), scale, acc);

    public static void TileScalar(byte* p, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[4];
        int* lanes = stackalloc int[4];
        for (int t = 0; t < mt; t++)
        {
            for (int i = 0; i < 8; i++)
            {
                new Span<float>(acc, 4).Clear();
                byte* pb = p;
                sbyte* q = a.Q(t);
                for (int b = 0; b < nb; b++, pb += 256, q += 32)
                {
                    BlockLanes(pb + 128 + 16 * i, q, a.S(t)[b], lanes);
                    QuadLanes.Accumulate(acc, lanes, Octet.Scale(pb, i) * a.D(t)[b]);
                }
                results[t * 8 + i] = QuadLanes.Sum(acc);
            }
        }
    }
}
