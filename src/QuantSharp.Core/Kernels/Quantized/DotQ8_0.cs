// Q8_0 weights · Q8_0 activations: 32-weight blocks of int8 with an fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Both sides are signed, and vpdpbusd/vpmaddubsw want unsigned × signed, so the weight's sign is
/// moved onto the activation: |w| · sign(a, w) = w · a (|w| ≤ 127 as ggml never stores −128).
/// </summary>
internal unsafe struct DotQ8_0 : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 34;

    public static bool SuperBlocks => false;

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        // Signed × signed without the sign trick: both sides widened to int16 and multiplied in
        // pairs (vpmaddwd), one row per register; the four rows' sixteen pair sums are then folded
        // to four lanes per row: lane l of row i gets pair sums 2l, 2l+1, 2l+8, 2l+9, i.e. values
        // 4l..4l+3 and 16+4l..16+4l+3, the lanes of QuadLanes that the AVX2, scalar and GEMM paths use.
        sbyte* q = a.Q(j);
        float* d = a.D(j);
        var firstHalves = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        var secondHalves = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        var evenPairs = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var oddPairs = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
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
            var dot = Avx512F.PermuteVar16x32x2(p01, evenPairs, p23) + Avx512F.PermuteVar16x32x2(p01, oddPairs, p23);
            var scale = RowQuad.Fp16x4(RowQuad.Words(w0, w1, w2, w3, off)) * Vector128.Create(d[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), RowQuad.Spread(scale), acc);
        }
        RowQuad.Sum(acc, results);
    }

    public static bool Interleaves => true;

    public static bool OddFirst => true;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ8_0>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ8_0>(copy, rowBytes, row, firstBlock, blocks, dst);

    /// <summary>
    /// <see cref="Dot512Quad"/> on the interleaved copy, where a block is the four rows' fp16 scales then two 64-byte
    /// chunks (values 0..15, then 16..31, of the four rows, one row per 128-bit lane): one sequential stream per quad
    /// instead of four. Rows 0–1 and 2–3 of a chunk are widened to int16 and multiplied in pairs by the activations'
    /// matching sixteen values; the two chunks' pair sums add per row, and adjacent pairs fold to the four lanes of
    /// <see cref="QuadLanes"/> (lane l: values 4l..4l+3 and 16+4l..16+4l+3). The integer lanes are exact, so they equal
    /// <see cref="Dot512Quad"/>'s, and the one FMA per block is the same: bit-identical results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
    {
        var src = new InterleavedQuad<DotQ8_0>(quad);
        sbyte* q = a.Q(j);
        float* d = a.D(j);
        var evenPairs = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var oddPairs = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        var acc = Vector512<float>.Zero;
        nint off = 0;
        for (int b = 0; b < nb; b++, off += BlockBytes, q += 32)
        {
            RowQuad.PrefetchNext(next, off, BlockBytes);
            // Activation values 0..15 and 16..31 as int16, each in both 256-bit halves.
            var av = Avx512BW.ConvertToVector512Int16(Vector256.Load(q));
            var aLow = Avx512F.Shuffle4x128(av.AsInt64(), av.AsInt64(), 0b01_00_01_00).AsInt16();
            var aHigh = Avx512F.Shuffle4x128(av.AsInt64(), av.AsInt64(), 0b11_10_11_10).AsInt16();
            var c0 = src.Load16(off, 2).AsSByte();
            var c1 = src.Load16(off, 18).AsSByte();
            var s01 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(c0.GetLower()), aLow)
                      + Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(c1.GetLower()), aHigh);
            var s23 = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(c0.GetUpper()), aLow)
                      + Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(c1.GetUpper()), aHigh);
            var dot = Avx512F.PermuteVar16x32x2(s01, evenPairs, s23) + Avx512F.PermuteVar16x32x2(s01, oddPairs, s23);
            var scale = RowQuad.Fp16x4(src.Halves(off, 0)) * Vector128.Create(d[b]);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), RowQuad.Spread(scale), acc);
        }
        RowQuad.Sum(acc, results);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Register accumulators; a row's arithmetic does not depend on mt, and is Dot512Quad's (QuadLanes).
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
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
        for (int b = 0; b < nb; b++, w0 += BlockBytes, w1 += BlockBytes)
        {
            var av = Vector256.Load(q + b * 32);
            var wq0 = Vector256.Load((sbyte*)(w0 + 2));
            var wq1 = Vector256.Load((sbyte*)(w1 + 2));
            var dot0 = QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(wq0), Avx2.Sign(av, wq0)));
            var dot1 = QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(wq1), Avx2.Sign(av, wq1)));
            acc0 = QuadLanes.Accumulate(acc0, dot0, IntDot.Half(w0) * d[b]);
            acc1 = QuadLanes.Accumulate(acc1, dot1, IntDot.Half(w1) * d[b]);
        }
        results[0] = QuadLanes.Sum(acc0);
        results[1] = QuadLanes.Sum(acc1);
    }

    /// <summary>One block of one row against activation row q: Dot512Quad's lanes and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Step<TF>(Vector128<float> acc, Vector256<byte> u, Vector256<sbyte> wq, float dw, sbyte* q, float* d, int b) where TF : struct, IDotFlavor
    {
        var s = Avx2.Sign(Vector256.Load(q + b * 32), wq);
        return QuadLanes.Accumulate(acc, QuadLanes.Fold(IntDot.U8S8<TF>(Vector256<int>.Zero, u, s)), dw * d[b]);
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
                sbyte* wq = (sbyte*)(wb + 2);
                BlockLanes(wq, wq + 16, q, lanes);
                QuadLanes.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = QuadLanes.Sum(acc);
        }
    }

    /// <summary>The four exact int32 lanes of one block: weights 0..15 at <paramref name="low"/>, 16..31 at <paramref name="high"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BlockLanes(sbyte* low, sbyte* high, sbyte* q, int* lanes)
    {
        for (int l = 0; l < 4; l++)
        {
            int v = 0;
            for (int i = 4 * l; i < 4 * l + 4; i++) v += low[i] * q[i] + high[i] * q[i + 16];
            lanes[l] = v;
        }
    }

    public static bool GemmTiles => true;

    /// <summary>The quad block is d of the four rows then their chunks; the octet block the scale header then both quads' chunks.</summary>
    public static bool OctetsFromQuads => true;

    /// <summary>
    /// Per block: quad 0's and quad 1's scales spread to 16 floats each (row i in lanes 4i..4i+3),
    /// then per quad its rows' weights 0..15 (row i in 128-bit lane i) and their weights 16..31.
    /// </summary>
    public static int OctetBlockBytes => 384;

    public static void PackOctet(byte** rows, int nb, byte* dst)
    {
        for (int b = 0; b < nb; b++, dst += 384)
        {
            for (int i = 0; i < 8; i++)
            {
                byte* block = rows[i] + (nint)b * BlockBytes;
                // WeightBits.Fp16 is bit-identical to RowQuad.Fp16x4 (tested on all 65,536 patterns).
                Octet.StoreScale(dst, i, WeightBits.Fp16(block));
                byte* quad = dst + 128 + (i >> 2) * 128 + (i & 3) * 16;
                Vector128.Store(Vector128.Load(block + 2), quad);
                Vector128.Store(Vector128.Load(block + 18), quad + 64);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile512(byte* p, int nb, in ActTile a, int mt, float* results)
    {
        // Per (row, activation row) the integer lanes of Dot512Quad (values 4l..4l+3 and
        // 16+4l..16+4l+3, exact) and the same fma(cvt(dot), scale·d, acc) per block and final sum.
        // AVX-512 has no vpsignb: the weights' signs move onto the activations by a masked select
        // (the masks and |w| are computed once per block and serve all four activation rows).
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        Vector512<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default, c3a = default, c3b = default;
        for (int b = 0; b < nb; b++, p += 384)
        {
            var wLa = Vector512.Load((sbyte*)(p + 128));
            var wHa = Vector512.Load((sbyte*)(p + 192));
            var wLb = Vector512.Load((sbyte*)(p + 256));
            var wHb = Vector512.Load((sbyte*)(p + 320));
            var nLa = Vector512.LessThan(wLa, Vector512<sbyte>.Zero);
            var nHa = Vector512.LessThan(wHa, Vector512<sbyte>.Zero);
            var nLb = Vector512.LessThan(wLb, Vector512<sbyte>.Zero);
            var nHb = Vector512.LessThan(wHb, Vector512<sbyte>.Zero);
            var uLa = Avx512BW.Abs(wLa); var uHa = Avx512BW.Abs(wHa);
            var uLb = Avx512BW.Abs(wLb); var uHb = Avx512BW.Abs(wHb);
            var scA = Vector512.Load((float*)p);
            var scB = Vector512.Load((float*)(p + 64));
            nint qo = (nint)b * 32;

            var x0 = RowQuad.Broadcast16(q0 + qo); var x1 = RowQuad.Broadcast16(q0 + qo + 16); var dv = Vector512.Create(d0[b]);
            c0a = TileStep(c0a, uLa, uHa, nLa, nHa, x0, x1, scA * dv);
            c0b = TileStep(c0b, uLb, uHb, nLb, nHb, x0, x1, scB * dv);

            x0 = RowQuad.Broadcast16(q1 + qo); x1 = RowQuad.Broadcast16(q1 + qo + 16); dv = Vector512.Create(d1[b]);
            c1a = TileStep(c1a, uLa, uHa, nLa, nHa, x0, x1, scA * dv);
            c1b = TileStep(c1b, uLb, uHb, nLb, nHb, x0, x1, scB * dv);

            x0 = RowQuad.Broadcast16(q2 + qo); x1 = RowQuad.Broadcast16(q2 + qo + 16); dv = Vector512.Create(d2[b]);
            c2a = TileStep(c2a, uLa, uHa, nLa, nHa, x0, x1, scA * dv);
            c2b = TileStep(c2b, uLb, uHb, nLb, nHb, x0, x1, scB * dv);

            x0 = RowQuad.Broadcast16(q3 + qo); x1 = RowQuad.Broadcast16(q3 + qo + 16); dv = Vector512.Create(d3[b]);
            c3a = TileStep(c3a, uLa, uHa, nLa, nHa, x0, x1, scA * dv);
            c3b = TileStep(c3b, uLb, uHb, nLb, nHb, x0, x1, scB * dv);
        }
        Octet.Store(results, c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
    }

    /// <summary>
    /// One quad × one activation row × one block of <see cref="Tile512"/>. The two halves' pair sums
    /// (up to 2·127·127 each) are widened separately: together they could overflow int16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> TileStep(Vector512<float> acc, Vector512<byte> uL, Vector512<byte> uH, Vector512<sbyte> negL, Vector512<sbyte> negH,
        Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<float> scale)
    {
        var sL = Vector512.ConditionalSelect(negL, -x0, x0);
        var sH = Vector512.ConditionalSelect(negH, -x1, x1);
        var dot = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(uL, sL), Vector512<short>.One)
                  + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(uH, sH), Vector512<short>.One);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), scale, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile256<TF>(byte* p, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        // Each row quad in turn as two row pairs (row i of the pair in 128-bit lane i) against four
        // activation rows; the weights' signs move onto the activations with vpsignb.
        sbyte* q0 = a.Q(0), q1 = a.Q(Math.Min(1, mt - 1)), q2 = a.Q(Math.Min(2, mt - 1)), q3 = a.Q(Math.Min(3, mt - 1));
        float* d0 = a.D(0), d1 = a.D(Math.Min(1, mt - 1)), d2 = a.D(Math.Min(2, mt - 1)), d3 = a.D(Math.Min(3, mt - 1));
        for (int quad = 0; quad < 2; quad++)
        {
            Vector256<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default, c3a = default, c3b = default;
            byte* pb = p;
            for (int b = 0; b < nb; b++, pb += 384)
            {
                byte* wq = pb + 128 + 128 * quad;
                var wLa = Vector256.Load((sbyte*)wq);
                var wLb = Vector256.Load((sbyte*)(wq + 32));
                var wHa = Vector256.Load((sbyte*)(wq + 64));
                var wHb = Vector256.Load((sbyte*)(wq + 96));
                var uLa = Avx2.Abs(wLa); var uLb = Avx2.Abs(wLb); var uHa = Avx2.Abs(wHa); var uHb = Avx2.Abs(wHb);
                var scA = Vector256.Load((float*)(pb + 64 * quad));
                var scB = Vector256.Load((float*)(pb + 64 * quad + 32));
                nint qo = (nint)b * 32;

                var x0 = Avx2.BroadcastVector128ToVector256(q0 + qo); var x1 = Avx2.BroadcastVector128ToVector256(q0 + qo + 16); var dv = Vector256.Create(d0[b]);
                c0a = PairStep<TF>(c0a, uLa, wLa, uHa, wHa, x0, x1, scA * dv);
                c0b = PairStep<TF>(c0b, uLb, wLb, uHb, wHb, x0, x1, scB * dv);

                x0 = Avx2.BroadcastVector128ToVector256(q1 + qo); x1 = Avx2.BroadcastVector128ToVector256(q1 + qo + 16); dv = Vector256.Create(d1[b]);
                c1a = PairStep<TF>(c1a, uLa, wLa, uHa, wHa, x0, x1, scA * dv);
                c1b = PairStep<TF>(c1b, uLb, wLb, uHb, wHb, x0, x1, scB * dv);

                x0 = Avx2.BroadcastVector128ToVector256(q2 + qo); x1 = Avx2.BroadcastVector128ToVector256(q2 + qo + 16); dv = Vector256.Create(d2[b]);
                c2a = PairStep<TF>(c2a, uLa, wLa, uHa, wHa, x0, x1, scA * dv);
                c2b = PairStep<TF>(c2b, uLb, wLb, uHb, wHb, x0, x1, scB * dv);

                x0 = Avx2.BroadcastVector128ToVector256(q3 + qo); x1 = Avx2.BroadcastVector128ToVector256(q3 + qo + 16); dv = Vector256.Create(d3[b]);
                c3a = PairStep<TF>(c3a, uLa, wLa, uHa, wHa, x0, x1, scA * dv);
                c3b = PairStep<TF>(c3b, uLb, wLb, uHb, wHb, x0, x1, scB * dv);
            }
            Octet.StoreQuad(results + 4 * quad, c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
        }
    }

    /// <summary>One row pair × one activation row × one block of <see cref="Tile256"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PairStep<TF>(Vector256<float> acc, Vector256<byte> uL, Vector256<sbyte> wL, Vector256<byte> uH, Vector256<sbyte> wH,
        Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<float> scale) where TF : struct, IDotFlavor
    {
        var dot = IntDot.U8S8<TF>(IntDot.U8S8<TF>(Vector256<int>.Zero, uL, Avx2.Sign(x0, wL)), uH, Avx2.Sign(x1, wH));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), scale, acc);
    }

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
                for (int b = 0; b < nb; b++, pb += 384, q += 32)
                {
                    sbyte* low = (sbyte*)(pb + 128 + (i >> 2) * 128 + (i & 3) * 16);
                    BlockLanes(low, low + 64, q, lanes);
                    QuadLanes.Accumulate(acc, lanes, Octet.Scale(pb, i) * a.D(t)[b]);
                }
                results[t * 8 + i] = QuadLanes.Sum(acc);
            }
        }
    }
}
