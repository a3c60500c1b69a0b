// The two inner loops of attention over a KV cache: query·key scores and the value-weighted sum.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Attention inner loops over rows of a cache laid out [position, stride]. Head widths are small
/// (64–128), so a call per key would cost more than the arithmetic; these loops keep the query and
/// the output accumulators in registers across all positions. Results are independent of threads.
/// </summary>
public static unsafe partial class AttentionOps
{
    /// <summary>scores[j] = scale · Σ_c q[c]·rows[j·stride + c] for j &lt; scores.Length.</summary>
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> rows, int stride, float scale, Span<float> scores)
    {
        CheckRows(rows.Length, scores.Length, stride, q.Length);
        fixed (float* rp = rows)
            Scores<F32Load>(q, (byte*)rp, stride, scale, scores);
    }

    /// <summary>The same over an fp16 cache (llama.cpp's default KV type): each key element is widened exactly, then the fp32 arithmetic.</summary>
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<Half> rows, int stride, float scale, Span<float> scores)
    {
        CheckRows(rows.Length, scores.Length, stride, q.Length);
        fixed (Half* rp = rows)
            Scores<F16Load>(q, (byte*)rp, stride, scale, scores);
    }

    private static void CheckRows(int length, int n, int stride, int d)
    {
        if (n > 0 && (long)(n - 1) * stride + d > length) throw new ArgumentException("rows too short for the positions asked");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores<TL>(ReadOnlySpan<float> q, byte* rp, int stride, float scale, Span<float> scores) where TL : struct, IWeightLoad
    {
        int d = q.Length, n = scores.Length;
        fixed (float* qp = q, sp = scores)
        {
            if (Vector512.IsHardwareAccelerated && d % 16 == 0 && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
            {
                ScoresAvx512<OneQuery, TL>(qp, null, rp, stride, d, n, scale, sp, null);
                return;
            }
            if (Vector256.IsHardwareAccelerated && d % 8 == 0 && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2)
            {
                for (int j = 0; j < n; j++)
                {
                    nint r = (nint)j * stride;
                    var acc = Vector256<float>.Zero;
                    for (int c = 0; c < d; c += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(qp + c), TL.Load256(rp, r + c), acc);
                    sp[j] = Vector256.Sum(acc) * scale;
                }
                return;
            }
            for (int j = 0; j < n; j++)
            {
                nint r = (nint)j * stride;
                float acc = 0;
                for (int c = 0; c < d; c++) acc = MathF.FusedMultiplyAdd(qp[c], TL.Load1(rp, r + c), acc);
                sp[j] = acc * scale;
            }
        }
    }

    /// <summary>
    /// <see cref="Scores(ReadOnlySpan{float}, ReadOnlySpan{float}, int, float, Span{float})"/> for
    /// <paramref name="queries"/> (1 or 2) queries of one grouped-query head pair at once: query g is
    /// q[g·d .. (g+1)·d) and its scores go to scores[g·n .. (g+1)·n) with n = scores.Length / queries.
    /// Each key row is read once for both, which halves the cache traffic of GQA models; each
    /// query's arithmetic is exactly that of the one-query call, so the bits are the same.
    /// </summary>
    public static void Scores(ReadOnlySpan<float> q, int queries, ReadOnlySpan<float> rows, int stride, float scale, Span<float> scores)
    {
        CheckQueries(queries);
        CheckRows(rows.Length, scores.Length / queries, stride, q.Length / queries);
        fixed (float* rp = rows)
            Scores<F32Load>(q, queries, (byte*)rp, stride, scale, scores);
    }

    /// <summary>The two-query call over an fp16 cache.</summary>
    public static void Scores(ReadOnlySpan<float> q, int queries, ReadOnlySpan<Half> rows, int stride, float scale, Span<float> scores)
    {
        CheckQueries(queries);
        CheckRows(rows.Length, scores.Length / queries, stride, q.Length / queries);
        fixed (Half* rp = rows)
            Scores<F16Load>(q, queries, (byte*)rp, stride, scale, scores);
    }

    private static void CheckQueries(int queries)
    {
        if (queries is < 1 or > 2) throw new ArgumentOutOfRangeException(nameof(queries), queries, "1 or 2 queries per call");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores<TL>(ReadOnlySpan<float> q, int queries, byte* rp, int stride, float scale, Span<float> scores) where TL : struct, IWeightLoad
    {
        int d = q.Length / queries, n = scores.Length / queries;
        if (queries == 1 || !(Vector512.IsHardwareAccelerated && d % 16 == 0 && KernelOptions.EffectiveIsa == KernelIsa.Avx512))
        {
            for (int g = 0; g < queries; g++) Scores<TL>(q.Slice(g * d, d), rp, stride, scale, scores.Slice(g * n, n));
            return;
        }
        fixed (float* qp = q, sp = scores)
            ScoresAvx512<TwoQueries, TL>(qp, qp + d, rp, stride, d, n, scale, sp, sp + n);
    }

    /// <summary>
    /// Eight key rows at a time against one query (<paramref name="q1"/> null) or two: per row and
    /// query, 16-lane FMAs over the head then <see cref="Sum8"/>'s fixed tree, so a row's score does
    /// not depend on its neighbours, on the block it falls in, or on the second query. A ragged
    /// last block repeats its final row and keeps only the real scores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx512<TQ, TL>(float* q0, float* q1, byte* rows, int stride, int d, int n, float scale, float* s0, float* s1)
        where TQ : struct, IQueryCount where TL : struct, IWeightLoad
    {
        var sc = Vector256.Create(scale);
        float* tail = stackalloc float[16];
        for (int j = 0; j < n; j += 8)
        {
            int last = n - 1;
            // Element offsets of the eight rows (the loads scale them by the element size).
            nint r0 = (nint)j * stride, r1 = (nint)Math.Min(j + 1, last) * stride;
            nint r2 = (nint)Math.Min(j + 2, last) * stride, r3 = (nint)Math.Min(j + 3, last) * stride;
            nint r4 = (nint)Math.Min(j + 4, last) * stride, r5 = (nint)Math.Min(j + 5, last) * stride;
            nint r6 = (nint)Math.Min(j + 6, last) * stride, r7 = (nint)Math.Min(j + 7, last) * stride;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
            for (int c = 0; c < d; c += 16)
            {
                var x = Vector512.Load(q0 + c);
                Vector512<float> k0 = TL.Load512(rows, r0 + c), k1 = TL.Load512(rows, r1 + c), k2 = TL.Load512(rows, r2 + c), k3 = TL.Load512(rows, r3 + c);
                Vector512<float> k4 = TL.Load512(rows, r4 + c), k5 = TL.Load512(rows, r5 + c), k6 = TL.Load512(rows, r6 + c), k7 = TL.Load512(rows, r7 + c);
                a0 = Vector512.FusedMultiplyAdd(x, k0, a0); a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
                a2 = Vector512.FusedMultiplyAdd(x, k2, a2); a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
                a4 = Vector512.FusedMultiplyAdd(x, k4, a4); a5 = Vector512.FusedMultiplyAdd(x, k5, a5);
                a6 = Vector512.FusedMultiplyAdd(x, k6, a6); a7 = Vector512.FusedMultiplyAdd(x, k7, a7);
                if (TQ.Two)
                {
                    var y = Vector512.Load(q1 + c);
                    b0 = Vector512.FusedMultiplyAdd(y, k0, b0); b1 = Vector512.FusedMultiplyAdd(y, k1, b1);
                    b2 = Vector512.FusedMultiplyAdd(y, k2, b2); b3 = Vector512.FusedMultiplyAdd(y, k3, b3);
                    b4 = Vector512.FusedMultiplyAdd(y, k4, b4); b5 = Vector512.FusedMultiplyAdd(y, k5, b5);
                    b6 = Vector512.FusedMultiplyAdd(y, k6, b6); b7 = Vector512.FusedMultiplyAdd(y, k7, b7);
                }
            }
            int count = Math.Min(8, n - j);
            var sa = Sum8(a0, a1, a2, a3, a4, a5, a6, a7) * sc;
            if (count == 8) sa.Store(s0 + j);
            else { sa.Store(tail); new Span<float>(tail, count).CopyTo(new Span<float>(s0 + j, count)); }
            if (TQ.Two)
            {
                var sb = Sum8(b0, b1, b2, b3, b4, b5, b6, b7) * sc;
                if (count == 8) sb.Store(s1 + j);
                else { sb.Store(tail + 8); new Span<float>(tail + 8, count).CopyTo(new Span<float>(s1 + j, count)); }
            }
        }
    }

    /// <summary>Compile-time query count of <see cref="ScoresAvx512"/>: a runtime test in its loop makes the JIT spill the accumulators.</summary>
    private interface IQueryCount { static abstract bool Two { get; } }
    private struct OneQuery : IQueryCount { public static bool Two => false; }
    private struct TwoQueries : IQueryCount { public static bool Two => true; }

    /// <summary>
    /// The 16-lane sums of eight vectors, in a fixed tree: 128-bit quarters pairwise (0+2, 1+3),
    /// then the two remaining quarters, then within each quarter (0+2, 1+3) and the last pair.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sum8(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7)
    {
        // t = [x.q0+x.q2, x.q1+x.q3, y.q0+y.q2, y.q1+y.q3] for pairs (x, y).
        var t0 = Avx512F.Shuffle4x128(a0, a1, 0x44) + Avx512F.Shuffle4x128(a0, a1, 0xEE);
        var t1 = Avx512F.Shuffle4x128(a2, a3, 0x44) + Avx512F.Shuffle4x128(a2, a3, 0xEE);
        var t2 = Avx512F.Shuffle4x128(a4, a5, 0x44) + Avx512F.Shuffle4x128(a4, a5, 0xEE);
        var t3 = Avx512F.Shuffle4x128(a6, a7, 0x44) + Avx512F.Shuffle4x128(a6, a7, 0xEE);
        // u quarters: one four-float partial per vector, [a0, a1, a2, a3] and [a4, a5, a6, a7].
        var u0 = Avx512F.Shuffle4x128(t0, t1, 0x88) + Avx512F.Shuffle4x128(t0, t1, 0xDD);
        var u1 = Avx512F.Shuffle4x128(t2, t3, 0x88) + Avx512F.Shuffle4x128(t2, t3, 0xDD);
        // Per quarter k: [u0.0+u0.2, u1.0+u1.2, u0.1+u0.3, u1.1+u1.3], then lanes 0 and 1 finish a_k and a_(4+k).
        var w = Avx512F.UnpackLow(u0, u1) + Avx512F.UnpackHigh(u0, u1);
        w += Avx512F.Permute4x32(w, 0b01_00_11_10);
        return Avx512F.PermuteVar16x32(w, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower();
    }

    /// <summary>
    /// <see cref="WeightedSum(ReadOnlySpan{float}, ReadOnlySpan{float}, int, Span{float})"/> for 1 or
    /// 2 queries sharing the value rows: weights of query g at weights[g·n ..), its output at
    /// output[g·d ..) with d = output.Length / queries; the same bits as one call per query.
    /// </summary>
    public static void WeightedSum(ReadOnlySpan<float> weights, int queries, ReadOnlySpan<float> rows, int stride, Span<float> output)
    {
        CheckQueries(queries);
        CheckRows(rows.Length, weights.Length / queries, stride, output.Length / queries);
        fixed (float* rp = rows)
            WeightedSum<F32Load>(weights, queries, (byte*)rp, stride, output);
    }

    /// <summary>The two-query weighted sum over an fp16 cache.</summary>
    public static void WeightedSum(ReadOnlySpan<float> weights, int queries, ReadOnlySpan<Half> rows, int stride, Span<float> output)
    {
        CheckQueries(queries);
        CheckRows(rows.Length, weights.Length / queries, stride, output.Length / queries);
        fixed (Half* rp = rows)
            WeightedSum<F16Load>(weights, queries, (byte*)rp, stride, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum<TL>(ReadOnlySpan<float> weights, int queries, byte* rp, int stride, Span<float> output) where TL : struct, IWeightLoad
    {
        int d = output.Length / queries, n = weights.Length / queries;
        if (queries == 1 || !(Vector512.IsHardwareAccelerated && d % 64 == 0 && KernelOptions.EffectiveIsa == KernelIsa.Avx512))
        {
            for (int g = 0; g < queries; g++) WeightedSum<TL>(weights.Slice(g * n, n), rp, stride, output.Slice(g * d, d));
            return;
        }
        fixed (float* wp = weights, op = output)
        {
            float* w1 = wp + n, o1 = op + d;
            for (int c = 0; c < d; c += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                for (int j = 0; j < n; j++)
                {
                    nint r = (nint)j * stride + c;
                    var v0 = TL.Load512(rp, r);
                    var v1 = TL.Load512(rp, r + 16);
                    var v2 = TL.Load512(rp, r + 32);
                    var v3 = TL.Load512(rp, r + 48);
                    var s = Vector512.Create(wp[j]);
                    a0 = Vector512.FusedMultiplyAdd(s, v0, a0);
                    a1 = Vector512.FusedMultiplyAdd(s, v1, a1);
                    a2 = Vector512.FusedMultiplyAdd(s, v2, a2);
                    a3 = Vector512.FusedMultiplyAdd(s, v3, a3);
                    var t = Vector512.Create(w1[j]);
                    b0 = Vector512.FusedMultiplyAdd(t, v0, b0);
                    b1 = Vector512.FusedMultiplyAdd(t, v1, b1);
                    b2 = Vector512.FusedMultiplyAdd(t, v2, b2);
                    b3 = Vector512.FusedMultiplyAdd(t, v3, b3);
                }
                a0.Store(op + c); a1.Store(op + c + 16); a2.Store(op + c + 32); a3.Store(op + c + 48);
                b0.Store(o1 + c); b1.Store(o1 + c + 16); b2.Store(o1 + c + 32); b3.Store(o1 + c + 48);
            }
        }
    }

    /// <summary>
    /// Causal attention of <paramref name="tokens"/> consecutive query tokens of one head pair
    /// (<paramref name="queries"/> = 1 or 2 heads sharing a KV head) over that KV head's cached rows:
    /// token t's query g is q[t·qStride + g·headDim ..), it sees rows [max(0, e − window), e) with
    /// e = <paramref name="visible"/> + t (later tokens see more keys; <paramref name="window"/> =
    /// <see cref="int.MaxValue"/> for none), and its softmax-weighted sum of values goes to
    /// output[t·outStride + g·headDim ..). A block of several tokens reads each key and value row once
    /// for all its queries (transposed key tiles, grouped weighted sums, see AttentionBlock.cs); one token
    /// (decode) runs the one-token calls, widening fp16 in registers. Either way each (token, head) result
    /// is bit-identical to the one-token calls <see cref="Scores(ReadOnlySpan{float}, int, ReadOnlySpan{Half}, int, float, Span{float})"/>,
    /// <see cref="VectorOps.Softmax"/> and <see cref="WeightedSum(ReadOnlySpan{float}, int, ReadOnlySpan{Half}, int, Span{float})"/>
    /// over its own rows. <paramref name="scratch"/> holds at least <see cref="CausalBlockScratch"/> floats.
    /// </summary>
    public static void CausalBlock(ReadOnlySpan<float> q, int qStride, int tokens, int queries, int headDim,
        ReadOnlySpan<Half> keys, ReadOnlySpan<Half> values, int stride, int visible, int window, float scale,
        Span<float> output, int outStride, Span<float> scratch)
    {
        int rows = CheckBlock(q.Length, qStride, tokens, queries, headDim, keys.Length, values.Length, stride, visible, window, output.Length, outStride);
        if (tokens == 1)
        {
            int start = Math.Max(0, visible - window), len = visible - start;
            CheckScratch(scratch.Length, queries * len);
            var s = scratch[..(queries * len)];
            Scores(q[..(queries * headDim)], queries, keys.Slice(start * stride, (len - 1) * stride + headDim), stride, scale, s);
            for (int g = 0; g < queries; g++) VectorOps.Softmax(s.Slice(g * len, len));
            WeightedSum(s, queries, values.Slice(start * stride, (len - 1) * stride + headDim), stride, output[..(queries * headDim)]);
            return;
        }
        CheckScratch(scratch.Length, CausalBlockScratch(rows, tokens, queries, headDim));
        fixed (float* qp = q, op = output, sp = scratch)
        fixed (Half* kp = keys, vp = values)
            AttendBlock<F16Load>(qp, qStride, tokens, queries, headDim, (byte*)kp, (byte*)vp, stride, visible, window, scale, op, outStride, sp);
    }

    /// <summary>The block call over an fp32 cache.</summary>
    public static void CausalBlock(ReadOnlySpan<float> q, int qStride, int tokens, int queries, int headDim,
        ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int stride, int visible, int window, float scale,
        Span<float> output, int outStride, Span<float> scratch)
    {
        int rows = CheckBlock(q.Length, qStride, tokens, queries, headDim, keys.Length, values.Length, stride, visible, window, output.Length, outStride);
        if (tokens == 1)
        {
            int start = Math.Max(0, visible - window), len = visible - start;
            CheckScratch(scratch.Length, queries * len);
            var s = scratch[..(queries * len)];
            Scores(q[..(queries * headDim)], queries, keys.Slice(start * stride, (len - 1) * stride + headDim), stride, scale, s);
            for (int g = 0; g < queries; g++) VectorOps.Softmax(s.Slice(g * len, len));
            WeightedSum(s, queries, values.Slice(start * stride, (len - 1) * stride + headDim), stride, output[..(queries * headDim)]);
            return;
        }
        CheckScratch(scratch.Length, CausalBlockScratch(rows, tokens, queries, headDim));
        fixed (float* qp = q, op = output, sp = scratch, kp = keys, vp = values)
            AttendBlock<F32Load>(qp, qStride, tokens, queries, headDim, (byte*)kp, (byte*)vp, stride, visible, window, scale, op, outStride, sp);
    }

    /// <summary>Validates a block call's shapes; returns the number of key/value rows it reads.</summary>
    private static int CheckBlock(int qLength, int qStride, int tokens, int queries, int headDim, int keysLength, int valuesLength,
        int stride, int visible, int window, int outputLength, int outStride)
    {
        CheckQueries(queries);
        if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "a block has at least one token");
        if (headDim < 1 || stride < headDim) throw new ArgumentException($"head width {headDim} must be positive and at most the row stride {stride}");
        if (visible < 1) throw new ArgumentOutOfRangeException(nameof(visible), visible, "the first token sees at least its own key");
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "window must be positive (int.MaxValue for none)");
        if (qStride < queries * headDim || (long)(tokens - 1) * qStride + queries * headDim > qLength)
            throw new ArgumentException($"queries: {tokens} tokens of {queries}×{headDim} floats at stride {qStride} do not fit in {qLength} floats");
        if (outStride < queries * headDim || (long)(tokens - 1) * outStride + queries * headDim > outputLength)
            throw new ArgumentException($"output: {tokens} tokens of {queries}×{headDim} floats at stride {outStride} do not fit in {outputLength} floats");
        int rows = visible + tokens - 1;
        CheckRows(keysLength, rows, stride, headDim);
        CheckRows(valuesLength, rows, stride, headDim);
        return rows;
    }

    private static void CheckScratch(int length, int needed)
    {
        if (length < needed) throw new ArgumentException($"scratch has {length} floats, the block needs {needed}");
    }

    /// <summary>Rows [rows, stride] of fp16 into compact fp32 rows [rows, headDim]; exact, so the path taken does not matter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WidenRows(Half* sp, int stride, int rows, int headDim, float* dp)
    {
        byte* s = (byte*)sp;
        for (int r = 0; r < rows; r++)
        {
            nint from = (nint)r * stride;
            float* to = dp + (nint)r * headDim;
            int c = 0;
            if (Vector512.IsHardwareAccelerated && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
                for (; c + 16 <= headDim; c += 16) F16Load.Load512(s, from + c).Store(to + c);
            else if (Vector256.IsHardwareAccelerated && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2)
                for (; c + 8 <= headDim; c += 8) F16Load.Load256(s, from + c).Store(to + c);
            for (; c < headDim; c++) to[c] = F16Load.Load1(s, from + c);
        }
    }

    /// <summary>output[c] = Σ_j weights[j]·rows[j·stride + c].</summary>
    public static void WeightedSum(ReadOnlySpan<float> weights, ReadOnlySpan<float> rows, int stride, Span<float> output)
    {
        CheckRows(rows.Length, weights.Length, stride, output.Length);
        fixed (float* rp = rows)
            WeightedSum<F32Load>(weights, (byte*)rp, stride, output);
    }

    /// <summary>The weighted sum over an fp16 cache.</summary>
    public static void WeightedSum(ReadOnlySpan<float> weights, ReadOnlySpan<Half> rows, int stride, Span<float> output)
    {
        CheckRows(rows.Length, weights.Length, stride, output.Length);
        fixed (Half* rp = rows)
            WeightedSum<F16Load>(weights, (byte*)rp, stride, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum<TL>(ReadOnlySpan<float> weights, byte* rp, int stride, Span<float> output) where TL : struct, IWeightLoad
    {
        fixed (float* wp = weights, op = output)
            WeightedSumOne<TL>(wp, rp, stride, weights.Length, output.Length, op, accumulate: false);
    }

    /// <summary>
    /// op[c] (+)= Σ_j wp[j]·rows[j·stride + c] for c &lt; d, j &lt; n: each column's FMA chain runs over j in
    /// order from 0 (<paramref name="accumulate"/> false) or from the value op[c] already holds, so rows
    /// split over several calls give the bits of one call over all of them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSumOne<TL>(float* wp, byte* rp, int stride, int n, int d, float* op, bool accumulate) where TL : struct, IWeightLoad
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
        {
            for (; c + 64 <= d; c += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                if (accumulate) { a0 = Vector512.Load(op + c); a1 = Vector512.Load(op + c + 16); a2 = Vector512.Load(op + c + 32); a3 = Vector512.Load(op + c + 48); }
                for (int j = 0; j < n; j++)
                {
                    nint r = (nint)j * stride + c;
                    var s = Vector512.Create(wp[j]);
                    a0 = Vector512.FusedMultiplyAdd(s, TL.Load512(rp, r), a0);
                    a1 = Vector512.FusedMultiplyAdd(s, TL.Load512(rp, r + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(s, TL.Load512(rp, r + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(s, TL.Load512(rp, r + 48), a3);
                }
                a0.Store(op + c); a1.Store(op + c + 16); a2.Store(op + c + 32); a3.Store(op + c + 48);
            }
            for (; c + 16 <= d; c += 16)
            {
                var a0 = accumulate ? Vector512.Load(op + c) : Vector512<float>.Zero;
                for (int j = 0; j < n; j++) a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[j]), TL.Load512(rp, (nint)j * stride + c), a0);
                a0.Store(op + c);
            }
        }
        else if (Vector256.IsHardwareAccelerated && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2)
        {
            for (; c + 8 <= d; c += 8)
            {
                var a0 = accumulate ? Vector256.Load(op + c) : Vector256<float>.Zero;
                for (int j = 0; j < n; j++) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(wp[j]), TL.Load256(rp, (nint)j * stride + c), a0);
                a0.Store(op + c);
            }
        }
        for (; c < d; c++)
        {
            float acc = accumulate ? op[c] : 0;
            for (int j = 0; j < n; j++) acc = MathF.FusedMultiplyAdd(wp[j], TL.Load1(rp, (nint)j * stride + c), acc);
            op[c] = acc;
        }
    }
}
