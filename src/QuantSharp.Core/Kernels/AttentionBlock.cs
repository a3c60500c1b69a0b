// Prefill attention of a block of query tokens: scores against key tiles transposed once per block, and
// weighted sums that share each value row among sixteen queries (eight on AVX2).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels;

public static unsafe partial class AttentionOps
{
    /// <summary>Key rows per transposed tile: one AVX-512 vector holds a column of the tile.</summary>
    private const int KeyTile = 16;

    /// <summary>Queries whose weighted sums share each loaded value row (sixteen accumulators on AVX-512).</summary>
    private const int SumGroup = 16;

    /// <summary>Rows of fp32 the fallback path widens at a time for an fp16 cache (32 rows of a 128-wide head are 16 KB).</summary>
    private const int TileRows = 32;

    /// <summary>
    /// Floats of scratch <see cref="CausalBlock(ReadOnlySpan{float}, int, int, int, int, ReadOnlySpan{Half}, ReadOnlySpan{Half}, int, int, int, float, Span{float}, int, Span{float})"/>
    /// needs for a block of <paramref name="tokens"/> tokens over <paramref name="rows"/> key/value rows of
    /// width <paramref name="headDim"/>: every query's scores (padded to whole key tiles, plus spare rows so
    /// that the weighted sums run in whole groups), one tile of keys and the interleaved weights of one group.
    /// </summary>
    public static int CausalBlockScratch(int rows, int tokens, int queries, int headDim)
        => (tokens * queries + SumGroup) * ScoreStride(rows) + Math.Max(KeyTile, TileRows) * headDim + ScoreStride(rows) * SumGroup;

    private static int ScoreStride(int rows) => rows + KeyTile;

    /// <summary>
    /// The block (tokens ≥ 2): scores of every (token, head) over its visible rows, softmax, weighted
    /// sum of values. Keys and values are <typeparamref name="TL"/> rows (fp32 or fp16) at
    /// <paramref name="stride"/> elements. Query i = t·queries + g has its scores at
    /// scores[i·ScoreStride(rows) + j] for block row j; every result has the bits of the one-token calls.
    /// </summary>
    private static void AttendBlock<TL>(float* q, int qStride, int tokens, int queries, int d, byte* keys, byte* values, int stride,
        int visible, int window, float scale, float* output, int outStride, float* scratch) where TL : struct, IWeightLoad
    {
        int rows = visible + tokens - 1, rs = ScoreStride(rows), count = tokens * queries;
        float* scores = scratch, tile = scratch + (nint)(count + SumGroup) * rs, weights = tile + Math.Max(KeyTile, TileRows) * d;
        var isa = KernelOptions.EffectiveIsa;
        bool avx512 = Vector512.IsHardwareAccelerated && isa == KernelIsa.Avx512;
        if (avx512 && d % 16 == 0) TransposedScores<TL>(q, qStride, tokens, queries, d, keys, stride, visible, window, scale, scores, rs, tile);
        else TiledScores<TL>(q, qStride, tokens, queries, d, keys, stride, visible, window, scale, scores, rs, tile);
        for (int t = 0; t < tokens; t++)
        {
            var (start, end) = Range(visible, window, t);
            for (int g = 0; g < queries; g++) VectorOps.Softmax(new Span<float>(scores + ((nint)t * queries + g) * rs + start, end - start));
        }
        GroupedSums<TL>(tokens, queries, d, values, stride, visible, window, scores, rs, output, outStride, avx512, tile, weights);
    }

    /// <summary>Bytes per cached element of <typeparamref name="TL"/> (the kernels index rows in elements).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ElementSize<TL>() where TL : struct, IWeightLoad => typeof(TL) == typeof(F16Load) ? 2 : 4;

    /// <summary>Rows [start, end) of the block that token t sees.</summary>
    private static (int Start, int End) Range(int visible, int window, int t)
    {
        int end = visible + t;
        return (Math.Max(0, end - window), end);
    }

    /// <summary>
    /// AVX-512 scores: each tile of 16 key rows is widened and transposed once (a vector per head column,
    /// lane r = row r) and then serves every query of the block, four at a time. Per query and row the
    /// arithmetic is <see cref="ScoresAvx512"/>'s: lane l of its accumulators is the FMA chain over
    /// columns l, l + 16, … — here the vector L_l — and <see cref="Sum8"/>'s tree adds the sixteen lanes as
    /// ((L0 + L8) + (L4 + L12) + (L2 + L10) + (L6 + L14)) + ((L1 + L9) + (L5 + L13) + (L3 + L11) + (L7 + L15)),
    /// bracketed as below, so the scores are bit-identical and no horizontal reduction is left.
    /// </summary>
    private static void TransposedScores<TL>(float* q, int qStride, int tokens, int queries, int d, byte* keys, int stride,
        int visible, int window, float scale, float* scores, int rs, float* kt) where TL : struct, IWeightLoad
    {
        int rows = visible + tokens - 1, first = Range(visible, window, 0).Start;
        int count = tokens * queries;
        float** qs = stackalloc float*[count + 3];
        float** ss = stackalloc float*[count + 3];
        for (int j0 = first - first % KeyTile; j0 < rows; j0 += KeyTile)
        {
            PackKeyTile<TL>(keys, stride, j0, rows, d, kt);
            // The queries whose rows meet this tile (a token sees [start, end); later tokens end later).
            int active = 0;
            for (int t = 0; t < tokens; t++)
            {
                var (start, end) = Range(visible, window, t);
                if (end <= j0 || start >= j0 + KeyTile) continue;
                for (int g = 0; g < queries; g++)
                {
                    qs[active] = q + (nint)t * qStride + g * d;
                    ss[active++] = scores + ((nint)t * queries + g) * rs + j0;
                }
            }
            for (int i = active; i < active + 3; i++) { qs[i] = qs[active - 1]; ss[i] = ss[active - 1]; }
            // Scores outside a query's rows (at most the 15 rows of a tile's ragged ends) are computed and
            // never read; scores[] has the spare columns for them.
            for (int i = 0; i < active; i += 4)
                TileScores4(kt, d, qs[i], qs[i + 1], qs[i + 2], qs[i + 3], scale, ss[i], ss[i + 1], ss[i + 2], ss[i + 3]);
        }
    }

    /// <summary>
    /// Key rows j0 … j0 + 15 (the last row repeated past <paramref name="rows"/>) as fp32 columns:
    /// kt[c·16 + r] = key[j0 + r][c]. Exact, so the scores keep the fp32 (or widened fp16) bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackKeyTile<TL>(byte* keys, int stride, int j0, int rows, int d, float* kt) where TL : struct, IWeightLoad
    {
        int last = rows - 1;
        nint* r = stackalloc nint[KeyTile];
        for (int i = 0; i < KeyTile; i++) r[i] = (nint)Math.Min(j0 + i, last) * stride;
        for (int c = 0; c < d; c += 16)
        {
            Vector512<float> x0 = TL.Load512(keys, r[0] + c), x1 = TL.Load512(keys, r[1] + c), x2 = TL.Load512(keys, r[2] + c), x3 = TL.Load512(keys, r[3] + c);
            Vector512<float> x4 = TL.Load512(keys, r[4] + c), x5 = TL.Load512(keys, r[5] + c), x6 = TL.Load512(keys, r[6] + c), x7 = TL.Load512(keys, r[7] + c);
            Vector512<float> x8 = TL.Load512(keys, r[8] + c), x9 = TL.Load512(keys, r[9] + c), x10 = TL.Load512(keys, r[10] + c), x11 = TL.Load512(keys, r[11] + c);
            Vector512<float> x12 = TL.Load512(keys, r[12] + c), x13 = TL.Load512(keys, r[13] + c), x14 = TL.Load512(keys, r[14] + c), x15 = TL.Load512(keys, r[15] + c);
            Transpose16(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, kt + (nint)c * 16);
        }
    }

    /// <summary>o[16·k + i] = x_i[k]: sixteen vectors transposed (pairs of rows interleaved by 32 and 64 bits, then 128-bit quarters twice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> x4, Vector512<float> x5, Vector512<float> x6, Vector512<float> x7, Vector512<float> x8, Vector512<float> x9,
        Vector512<float> x10, Vector512<float> x11, Vector512<float> x12, Vector512<float> x13, Vector512<float> x14, Vector512<float> x15, float* o)
    {
        Vector512<float> t0 = Avx512F.UnpackLow(x0, x1), t1 = Avx512F.UnpackHigh(x0, x1), t2 = Avx512F.UnpackLow(x2, x3), t3 = Avx512F.UnpackHigh(x2, x3);
        Vector512<float> t4 = Avx512F.UnpackLow(x4, x5), t5 = Avx512F.UnpackHigh(x4, x5), t6 = Avx512F.UnpackLow(x6, x7), t7 = Avx512F.UnpackHigh(x6, x7);
        Vector512<float> t8 = Avx512F.UnpackLow(x8, x9), t9 = Avx512F.UnpackHigh(x8, x9), t10 = Avx512F.UnpackLow(x10, x11), t11 = Avx512F.UnpackHigh(x10, x11);
        Vector512<float> t12 = Avx512F.UnpackLow(x12, x13), t13 = Avx512F.UnpackHigh(x12, x13), t14 = Avx512F.UnpackLow(x14, x15), t15 = Avx512F.UnpackHigh(x14, x15);
        x0 = Lo64(t0, t2); x1 = Hi64(t0, t2); x2 = Lo64(t1, t3); x3 = Hi64(t1, t3);
        x4 = Lo64(t4, t6); x5 = Hi64(t4, t6); x6 = Lo64(t5, t7); x7 = Hi64(t5, t7);
        x8 = Lo64(t8, t10); x9 = Hi64(t8, t10); x10 = Lo64(t9, t11); x11 = Hi64(t9, t11);
        x12 = Lo64(t12, t14); x13 = Hi64(t12, t14); x14 = Lo64(t13, t15); x15 = Hi64(t13, t15);
        // x_k now holds, per 128-bit quarter Q of rows 4Q' …: column k mod 4 of each quarter's four rows.
        t0 = Avx512F.Shuffle4x128(x0, x4, 0x88); t1 = Avx512F.Shuffle4x128(x1, x5, 0x88); t2 = Avx512F.Shuffle4x128(x2, x6, 0x88); t3 = Avx512F.Shuffle4x128(x3, x7, 0x88);
        t4 = Avx512F.Shuffle4x128(x0, x4, 0xDD); t5 = Avx512F.Shuffle4x128(x1, x5, 0xDD); t6 = Avx512F.Shuffle4x128(x2, x6, 0xDD); t7 = Avx512F.Shuffle4x128(x3, x7, 0xDD);
        t8 = Avx512F.Shuffle4x128(x8, x12, 0x88); t9 = Avx512F.Shuffle4x128(x9, x13, 0x88); t10 = Avx512F.Shuffle4x128(x10, x14, 0x88); t11 = Avx512F.Shuffle4x128(x11, x15, 0x88);
        t12 = Avx512F.Shuffle4x128(x8, x12, 0xDD); t13 = Avx512F.Shuffle4x128(x9, x13, 0xDD); t14 = Avx512F.Shuffle4x128(x10, x14, 0xDD); t15 = Avx512F.Shuffle4x128(x11, x15, 0xDD);
        Avx512F.Shuffle4x128(t0, t8, 0x88).Store(o); Avx512F.Shuffle4x128(t1, t9, 0x88).Store(o + 16);
        Avx512F.Shuffle4x128(t2, t10, 0x88).Store(o + 32); Avx512F.Shuffle4x128(t3, t11, 0x88).Store(o + 48);
        Avx512F.Shuffle4x128(t4, t12, 0x88).Store(o + 64); Avx512F.Shuffle4x128(t5, t13, 0x88).Store(o + 80);
        Avx512F.Shuffle4x128(t6, t14, 0x88).Store(o + 96); Avx512F.Shuffle4x128(t7, t15, 0x88).Store(o + 112);
        Avx512F.Shuffle4x128(t0, t8, 0xDD).Store(o + 128); Avx512F.Shuffle4x128(t1, t9, 0xDD).Store(o + 144);
        Avx512F.Shuffle4x128(t2, t10, 0xDD).Store(o + 160); Avx512F.Shuffle4x128(t3, t11, 0xDD).Store(o + 176);
        Avx512F.Shuffle4x128(t4, t12, 0xDD).Store(o + 192); Avx512F.Shuffle4x128(t5, t13, 0xDD).Store(o + 208);
        Avx512F.Shuffle4x128(t6, t14, 0xDD).Store(o + 224); Avx512F.Shuffle4x128(t7, t15, 0xDD).Store(o + 240);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lo64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Hi64(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();

    /// <summary>Sixteen scores (one per tile row) of four queries: s = scale · ((v0 + v2) + (v1 + v3)), v_e = (L_e + L_(e+8)) + (L_(e+4) + L_(e+12)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileScores4(float* kt, int d, float* qa, float* qb, float* qc, float* qd, float scale,
        float* sa, float* sb, float* sc, float* sd)
    {
        Lanes4(kt, d, 0, qa, qb, qc, qd, out var a0, out var b0, out var c0, out var d0);
        Lanes4(kt, d, 2, qa, qb, qc, qd, out var a1, out var b1, out var c1, out var d1);
        a0 += a1; b0 += b1; c0 += c1; d0 += d1;
        Lanes4(kt, d, 1, qa, qb, qc, qd, out a1, out b1, out c1, out d1);
        Lanes4(kt, d, 3, qa, qb, qc, qd, out var a2, out var b2, out var c2, out var d2);
        a1 += a2; b1 += b2; c1 += c2; d1 += d2;
        var s = Vector512.Create(scale);
        ((a0 + a1) * s).Store(sa); ((b0 + b1) * s).Store(sb); ((c0 + c1) * s).Store(sc); ((d0 + d1) * s).Store(sd);
    }

    /// <summary>
    /// v_e of four queries: (L_e + L_(e+8)) + (L_(e+4) + L_(e+12)), L_l the FMA chain over columns l, l + 16, …
    /// from zero; one pass over the columns computes the four L of each query (each key column loaded once for all four).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes4(float* kt, int d, int e, float* qa, float* qb, float* qc, float* qd,
        out Vector512<float> va, out Vector512<float> vb, out Vector512<float> vc, out Vector512<float> vd)
    {
        Vector512<float> a0 = default, a8 = default, a4 = default, a12 = default, b0 = default, b8 = default, b4 = default, b12 = default;
        Vector512<float> c0 = default, c8 = default, c4 = default, c12 = default, d0 = default, d8 = default, d4 = default, d12 = default;
        float* col = kt + (nint)e * 16;
        for (int k = e; k < d; k += 16, col += 256)
        {
            Vector512<float> k0 = Vector512.Load(col), k8 = Vector512.Load(col + 128), k4 = Vector512.Load(col + 64), k12 = Vector512.Load(col + 192);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(qa[k]), k0, a0); a8 = Vector512.FusedMultiplyAdd(Vector512.Create(qa[k + 8]), k8, a8);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(qa[k + 4]), k4, a4); a12 = Vector512.FusedMultiplyAdd(Vector512.Create(qa[k + 12]), k12, a12);
            b0 = Vector512.FusedMultiplyAdd(Vector512.Create(qb[k]), k0, b0); b8 = Vector512.FusedMultiplyAdd(Vector512.Create(qb[k + 8]), k8, b8);
            b4 = Vector512.FusedMultiplyAdd(Vector512.Create(qb[k + 4]), k4, b4); b12 = Vector512.FusedMultiplyAdd(Vector512.Create(qb[k + 12]), k12, b12);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(qc[k]), k0, c0); c8 = Vector512.FusedMultiplyAdd(Vector512.Create(qc[k + 8]), k8, c8);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(qc[k + 4]), k4, c4); c12 = Vector512.FusedMultiplyAdd(Vector512.Create(qc[k + 12]), k12, c12);
            d0 = Vector512.FusedMultiplyAdd(Vector512.Create(qd[k]), k0, d0); d8 = Vector512.FusedMultiplyAdd(Vector512.Create(qd[k + 8]), k8, d8);
            d4 = Vector512.FusedMultiplyAdd(Vector512.Create(qd[k + 4]), k4, d4); d12 = Vector512.FusedMultiplyAdd(Vector512.Create(qd[k + 12]), k12, d12);
        }
        va = (a0 + a8) + (a4 + a12); vb = (b0 + b8) + (b4 + b12); vc = (c0 + c8) + (c4 + c12); vd = (d0 + d8) + (d4 + d12);
    }

    /// <summary>
    /// Scores without the transposed tiles (AVX2, scalar, or a head width that is not a multiple of 16):
    /// tiles of <see cref="TileRows"/> rows (widened once for an fp16 cache) serve every token in turn
    /// through the one- and two-query kernels; a row's score does not depend on the rows computed with it.
    /// </summary>
    private static void TiledScores<TL>(float* q, int qStride, int tokens, int queries, int d, byte* keys, int stride,
        int visible, int window, float scale, float* scores, int rs, float* tile) where TL : struct, IWeightLoad
    {
        int rows = visible + tokens - 1, first = Range(visible, window, 0).Start;
        bool fp16 = typeof(TL) == typeof(F16Load);
        for (int j0 = first; j0 < rows; j0 += TileRows)
        {
            int j1 = Math.Min(j0 + TileRows, rows);
            if (fp16) WidenRows((Half*)keys + (nint)j0 * stride, stride, j1 - j0, d, tile);
            for (int t = 0; t < tokens; t++)
            {
                var (start, end) = Range(visible, window, t);
                int lo = Math.Max(j0, start), hi = Math.Min(j1, end);
                if (lo >= hi) continue;
                byte* rp = fp16 ? (byte*)(tile + (nint)(lo - j0) * d) : keys + (nint)lo * stride * sizeof(float);
                int step = fp16 ? d : stride;
                float* s0 = scores + (nint)t * queries * rs + lo;
                float* q0 = q + (nint)t * qStride;
                for (int g = 0; g < queries; g++)
                    Scores<F32Load>(new ReadOnlySpan<float>(q0 + g * d, d), rp, step, scale, new Span<float>(s0 + (nint)g * rs, hi - lo));
            }
        }
    }

    /// <summary>
    /// The weighted sums of all queries, sixteen at a time over the rows all sixteen see: their weights
    /// are interleaved once (<paramref name="weights"/>[j·16 + k]) so that each value row is loaded, and
    /// widened if fp16, once per sixteen queries. Each query's rows before and after that common range run
    /// through the one-query kernel. Every output element is one FMA chain over its query's rows in order
    /// from zero, as in the one-token call, whatever the ISA or grouping.
    /// </summary>
    private static void GroupedSums<TL>(int tokens, int queries, int d, byte* values, int stride, int visible, int window,
        float* scores, int rs, float* output, int outStride, bool avx512, float* spare, float* weights) where TL : struct, IWeightLoad
    {
        int count = tokens * queries;
        float** outs = stackalloc float*[SumGroup];
        bool grouped = (avx512 && d % 16 == 0) || (Vector256.IsHardwareAccelerated && KernelOptions.EffectiveIsa == KernelIsa.Avx2 && d % 8 == 0);
        if (!grouped)
        {
            TiledSums<TL>(tokens, queries, d, values, stride, visible, window, scores, rs, output, outStride, spare);
            return;
        }
        int size = ElementSize<TL>();
        for (int i0 = 0; i0 < count; i0 += SumGroup)
        {
            int n = Math.Min(SumGroup, count - i0);
            // Queries i0 … i0 + n − 1 belong to tokens t0 … t1; starts and ends grow with t.
            int t0 = i0 / queries, t1 = (i0 + n - 1) / queries;
            int lo = Range(visible, window, t1).Start, hi = Range(visible, window, t0).End;
            if (lo >= hi) { lo = 0; hi = 0; } // a window narrower than the group: no common rows
            for (int k = 0; k < SumGroup; k++)
            {
                if (k >= n) { outs[k] = spare; continue; } // padding queries write to the spare tile
                int i = i0 + k, t = i / queries, g = i % queries;
                var (start, end) = Range(visible, window, t);
                float* o = output + (nint)t * outStride + g * d;
                float* w = scores + (nint)i * rs;
                outs[k] = o;
                if (hi > lo)
                {
                    // Zeros continued by FMAs are the chain from zero; rows before the common range (a window) first.
                    new Span<float>(o, d).Clear();
                    if (lo > start) WeightedSumOne<TL>(w + start, values + (nint)start * stride * size, stride, lo - start, d, o, accumulate: true);
                }
                else WeightedSumOne<TL>(w + start, values + (nint)start * stride * size, stride, end - start, d, o, accumulate: false);
            }
            if (hi <= lo) continue;
            InterleaveWeights(scores + (nint)i0 * rs + lo, rs, hi - lo, weights);
            byte* vl = values + (nint)lo * stride * size;
            if (avx512) WeightedSum16x512<TL>(weights, vl, stride, hi - lo, d, outs);
            else WeightedSum16x256<TL>(weights, vl, stride, hi - lo, d, outs);
            for (int k = 0; k < n; k++)
            {
                int i = i0 + k, t = i / queries;
                int end = Range(visible, window, t).End;
                if (end > hi)
                    WeightedSumOne<TL>(scores + (nint)i * rs + hi, values + (nint)hi * stride * size, stride, end - hi, d, outs[k], accumulate: true);
            }
        }
    }

    /// <summary>
    /// Weighted sums without the grouped kernels (scalar, or a head width the vector kernels do not take):
    /// tiles of <see cref="TileRows"/> value rows (widened once for an fp16 cache) serve every query in
    /// turn, each query's FMA chains continuing through its output from tile to tile.
    /// </summary>
    private static void TiledSums<TL>(int tokens, int queries, int d, byte* values, int stride, int visible, int window,
        float* scores, int rs, float* output, int outStride, float* tile) where TL : struct, IWeightLoad
    {
        int rows = visible + tokens - 1, first = Range(visible, window, 0).Start;
        bool fp16 = typeof(TL) == typeof(F16Load);
        for (int j0 = first; j0 < rows; j0 += TileRows)
        {
            int j1 = Math.Min(j0 + TileRows, rows);
            if (fp16) WidenRows((Half*)values + (nint)j0 * stride, stride, j1 - j0, d, tile);
            for (int t = 0; t < tokens; t++)
            {
                var (start, end) = Range(visible, window, t);
                int lo = Math.Max(j0, start), hi = Math.Min(j1, end);
                if (lo >= hi) continue;
                byte* rp = fp16 ? (byte*)(tile + (nint)(lo - j0) * d) : values + (nint)lo * stride * sizeof(float);
                int step = fp16 ? d : stride;
                for (int g = 0; g < queries; g++)
                    WeightedSumOne<F32Load>(scores + ((nint)t * queries + g) * rs + lo, rp, step, hi - lo, d, output + (nint)t * outStride + g * d, accumulate: lo > start);
            }
        }
    }

    /// <summary>
    /// dst[j·16 + k] = w[k·ws + j] for sixteen weight rows k and j &lt; n (rounded up to 16: the rows'
    /// spare columns fill the rest, unused). Copies, so the weights keep their bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InterleaveWeights(float* w, int ws, int n, float* dst)
    {
        if (Vector512.IsHardwareAccelerated && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
        {
            nint s = ws;
            for (int j = 0; j < n; j += 16)
            {
                float* r = w + j;
                Transpose16(Vector512.Load(r), Vector512.Load(r + s), Vector512.Load(r + 2 * s), Vector512.Load(r + 3 * s),
                    Vector512.Load(r + 4 * s), Vector512.Load(r + 5 * s), Vector512.Load(r + 6 * s), Vector512.Load(r + 7 * s),
                    Vector512.Load(r + 8 * s), Vector512.Load(r + 9 * s), Vector512.Load(r + 10 * s), Vector512.Load(r + 11 * s),
                    Vector512.Load(r + 12 * s), Vector512.Load(r + 13 * s), Vector512.Load(r + 14 * s), Vector512.Load(r + 15 * s), dst + (nint)j * SumGroup);
            }
            return;
        }
        for (int j = 0; j < n; j++)
            for (int k = 0; k < SumGroup; k++) dst[j * SumGroup + k] = w[(nint)k * ws + j];
    }

    /// <summary>
    /// outs[k][c] += Σ_j w[j·16 + k]·rows[j·stride + c] for sixteen queries k, j &lt; n, c &lt; d (d a multiple
    /// of 16): sixteen columns per pass, each value load shared by the sixteen chains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum16x512<TL>(float* w, byte* rp, int stride, int n, int d, float** outs) where TL : struct, IWeightLoad
    {
        for (int c = 0; c < d; c += 16)
        {
            Vector512<float> a0 = Vector512.Load(outs[0] + c), a1 = Vector512.Load(outs[1] + c), a2 = Vector512.Load(outs[2] + c), a3 = Vector512.Load(outs[3] + c);
            Vector512<float> a4 = Vector512.Load(outs[4] + c), a5 = Vector512.Load(outs[5] + c), a6 = Vector512.Load(outs[6] + c), a7 = Vector512.Load(outs[7] + c);
            Vector512<float> a8 = Vector512.Load(outs[8] + c), a9 = Vector512.Load(outs[9] + c), a10 = Vector512.Load(outs[10] + c), a11 = Vector512.Load(outs[11] + c);
            Vector512<float> a12 = Vector512.Load(outs[12] + c), a13 = Vector512.Load(outs[13] + c), a14 = Vector512.Load(outs[14] + c), a15 = Vector512.Load(outs[15] + c);
            float* wj = w;
            for (int j = 0; j < n; j++, wj += SumGroup)
            {
                var v = TL.Load512(rp, (nint)j * stride + c);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[0]), v, a0); a1 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[1]), v, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[2]), v, a2); a3 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[3]), v, a3);
                a4 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[4]), v, a4); a5 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[5]), v, a5);
                a6 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[6]), v, a6); a7 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[7]), v, a7);
                a8 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[8]), v, a8); a9 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[9]), v, a9);
                a10 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[10]), v, a10); a11 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[11]), v, a11);
                a12 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[12]), v, a12); a13 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[13]), v, a13);
                a14 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[14]), v, a14); a15 = Vector512.FusedMultiplyAdd(Vector512.Create(wj[15]), v, a15);
            }
            a0.Store(outs[0] + c); a1.Store(outs[1] + c); a2.Store(outs[2] + c); a3.Store(outs[3] + c);
            a4.Store(outs[4] + c); a5.Store(outs[5] + c); a6.Store(outs[6] + c); a7.Store(outs[7] + c);
            a8.Store(outs[8] + c); a9.Store(outs[9] + c); a10.Store(outs[10] + c); a11.Store(outs[11] + c);
            a12.Store(outs[12] + c); a13.Store(outs[13] + c); a14.Store(outs[14] + c); a15.Store(outs[15] + c);
        }
    }

    /// <summary>
    /// The AVX2 twin of <see cref="WeightedSum16x512"/> (d a multiple of 8): eight columns and eight queries
    /// per pass (AVX2 has sixteen vector registers), so each value load serves eight chains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum16x256<TL>(float* w, byte* rp, int stride, int n, int d, float** outs) where TL : struct, IWeightLoad
    {
        for (int h = 0; h < SumGroup; h += 8)
        {
            float** o = outs + h;
            for (int c = 0; c < d; c += 8)
            {
                Vector256<float> a0 = Vector256.Load(o[0] + c), a1 = Vector256.Load(o[1] + c), a2 = Vector256.Load(o[2] + c), a3 = Vector256.Load(o[3] + c);
                Vector256<float> a4 = Vector256.Load(o[4] + c), a5 = Vector256.Load(o[5] + c), a6 = Vector256.Load(o[6] + c), a7 = Vector256.Load(o[7] + c);
                float* wj = w + h;
                for (int j = 0; j < n; j++, wj += SumGroup)
                {
                    var v = TL.Load256(rp, (nint)j * stride + c);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[0]), v, a0); a1 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[1]), v, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[2]), v, a2); a3 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[3]), v, a3);
                    a4 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[4]), v, a4); a5 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[5]), v, a5);
                    a6 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[6]), v, a6); a7 = Vector256.FusedMultiplyAdd(Vector256.Create(wj[7]), v, a7);
                }
                a0.Store(o[0] + c); a1.Store(o[1] + c); a2.Store(o[2] + c); a3.Store(o[3] + c);
                a4.Store(o[4] + c); a5.Store(o[5] + c); a6.Store(o[6] + c); a7.Store(o[7] + c);
            }
        }
    }
}
