// Eight k-quant scale searches at once, one sub-block per SIMD lane, each in exactly the scalar search's order.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// make_qkx2_quants, make_qx_quants and make_q3_quants (reference weights) for eight sub-blocks at a time. The
/// searches cannot be vectorized along a sub-block without reordering their sums (and so changing
/// the bytes ggml writes), but the sub-blocks of a super-block are searched independently: lane j of
/// every vector here is sub-block j, and every lane performs the scalar search's single-precision
/// operations in the scalar order, sums accumulated element by element, branches turned into
/// per-lane selects. The results are therefore bit-identical to <see cref="KQuantScaleSearch"/>
/// (KQuantLaneSearchTests checks it); only the throughput changes. Inputs are transposed: element i of
/// sub-block j at [i·8 + j]. Callers use the scalar search when <see cref="IsSupported"/> is false.
/// </summary>
internal static class KQuantLaneSearch
{
    /// <summary>Sub-blocks searched at once.</summary>
    public const int Lanes = 8;

    /// <summary>Largest sub-block length the searches take (Q4_K/Q5_K's 32).</summary>
    public const int MaxLength = 32;

    /// <summary>Whether 8-lane float vectors are accelerated here.</summary>
    public static bool IsSupported => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// Copies <paramref name="count"/> consecutive sub-blocks of <paramref name="n"/> values from
    /// <paramref name="source"/> into the lane layout (element i of sub-block j at [i·8 + j]),
    /// lanes past <paramref name="count"/> zero.
    /// </summary>
    public static void Transpose(ReadOnlySpan<float> source, int n, int count, Span<float> destination)
    {
        destination[..(n * Lanes)].Clear();
        for (int j = 0; j < count; j++)
            for (int i = 0; i < n; i++)
                destination[i * Lanes + j] = source[j * n + i];
    }

    /// <summary>ggml's nearest_int per lane: the same float add and mantissa read as the scalar one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NearestInt(Vector256<float> value) =>
        ((value + Vector256.Create(12582912f)).AsInt32() & Vector256.Create(0x007fffff)) - Vector256.Create(0x00400000);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load(ReadOnlySpan<float> lanes, int element) =>
        Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(lanes), (nuint)(element * Lanes));

    /// <summary>Per lane, the element of largest |x| (first one on ties) and that |x|.</summary>
    private static Vector256<float> SignedAbsMax(ReadOnlySpan<float> xt, int n, out Vector256<float> amax)
    {
        Vector256<float> max = Vector256<float>.Zero;
        amax = Vector256<float>.Zero;
        for (int i = 0; i < n; i++)
        {
            var x = Load(xt, i);
            var ax = Vector256.Abs(x);
            var larger = Vector256.GreaterThan(ax, amax);
            amax = Vector256.ConditionalSelect(larger, ax, amax);
            max = Vector256.ConditionalSelect(larger, x, max);
        }
        return max;
    }

    /// <summary>
    /// Levels clamp(nearest(iscale·x), low, high) into <paramref name="levels"/>, and the x²-weighted
    /// sums Σ w·x·l and Σ w·l² in the scalar search's order.
    /// </summary>
    private static (Vector256<float> SumLx, Vector256<float> SumL2) RoundWeighted(ReadOnlySpan<float> xt, int n, Vector256<float> iscale,
        Vector256<int> low, Vector256<int> high, Span<Vector256<int>> levels)
    {
        Vector256<float> sumlx = Vector256<float>.Zero, suml2 = Vector256<float>.Zero;
        for (int i = 0; i < n; i++)
        {
            var x = Load(xt, i);
            var l = Vector256.Min(high, Vector256.Max(low, NearestInt(iscale * x)));
            levels[i] = l;
            var lf = Vector256.ConvertToSingle(l);
            var w = x * x;
            sumlx += w * x * lf;
            suml2 += w * lf * lf;
        }
        return (sumlx, suml2);
    }

    /// <summary>
    /// <see cref="KQuantScaleSearch.MakeQkx2Quants"/> for eight sub-blocks: <paramref name="xt"/> and
    /// <paramref name="wt"/> in lane layout (n × 8), levels written sub-block after sub-block
    /// (<paramref name="levels"/>[j·n + i], for the first <paramref name="count"/> lanes), scales and
    /// negated mins per lane.
    /// </summary>
    public static void MakeQkx2Quants(int nmax, int n, ReadOnlySpan<float> xt, ReadOnlySpan<float> wt, int count, Span<byte> levels,
        Span<float> scales, Span<float> theMins, float rmin, float rdelta, int nstep, bool useMad)
    {
        if (n < 1 || n > MaxLength || xt.Length < n * Lanes || wt.Length < n * Lanes) throw new ArgumentOutOfRangeException(nameof(n));
        Span<Vector256<int>> best = stackalloc Vector256<int>[MaxLength];
        Span<Vector256<int>> aux = stackalloc Vector256<int>[MaxLength];
        var zero = Vector256<float>.Zero;
        var zeroInt = Vector256<int>.Zero;
        var top = Vector256.Create(nmax);

        var x0 = Load(xt, 0);
        var min = x0;
        var max = x0;
        var sumW = Load(wt, 0);
        var sumX = sumW * x0;
        for (int i = 1; i < n; i++)
        {
            var x = Load(xt, i);
            var w = Load(wt, i);
            min = Vector256.ConditionalSelect(Vector256.LessThan(x, min), x, min);
            max = Vector256.ConditionalSelect(Vector256.GreaterThan(x, max), x, max);
            sumW += w;
            sumX += w * x;
        }
        min = Vector256.ConditionalSelect(Vector256.GreaterThan(min, zero), zero, min);
        // A flat sub-block keeps levels 0, scale 0 and this min; its lane's arithmetic below is discarded.
        var flat = Vector256.Equals(max, min);
        var flatMin = min;

        var iscale = Vector256.Create((float)nmax) / (max - min);
        var scale = Vector256<float>.One / iscale;
        var bestError = zero;
        for (int i = 0; i < n; i++)
        {
            var x = Load(xt, i);
            var l = Vector256.Max(zeroInt, Vector256.Min(top, NearestInt(iscale * (x - min))));
            best[i] = l;
            var diff = scale * Vector256.ConvertToSingle(l) + min - x;
            diff = useMad ? Vector256.Abs(diff) : diff * diff;
            bestError += Load(wt, i) * diff;
        }

        for (int step = 0; nstep >= 1 && step <= nstep; step++)
        {
            iscale = Vector256.Create(rmin + rdelta * step + nmax) / (max - min);
            Vector256<float> sumL = zero, sumL2 = zero, sumXL = zero;
            for (int i = 0; i < n; i++)
            {
                var x = Load(xt, i);
                var l = Vector256.Max(zeroInt, Vector256.Min(top, NearestInt(iscale * (x - min))));
                aux[i] = l;
                var lf = Vector256.ConvertToSingle(l);
                var wl = Load(wt, i) * lf;
                sumL += wl;
                sumL2 += wl * lf;
                sumXL += wl * x;
            }
            var det = sumW * sumL2 - sumL * sumL;
            var solvable = Vector256.GreaterThan(det, zero);
            if (solvable == Vector256<float>.Zero) continue;
            var thisScale = (sumW * sumXL - sumX * sumL) / det;
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            var positiveMin = Vector256.GreaterThan(thisMin, zero);
            thisMin = Vector256.ConditionalSelect(positiveMin, zero, thisMin);
            thisScale = Vector256.ConditionalSelect(positiveMin, sumXL / sumL2, thisScale);
            var error = zero;
            for (int i = 0; i < n; i++)
            {
                var diff = thisScale * Vector256.ConvertToSingle(aux[i]) + thisMin - Load(xt, i);
                diff = useMad ? Vector256.Abs(diff) : diff * diff;
                error += Load(wt, i) * diff;
            }
            var better = solvable & Vector256.LessThan(error, bestError);
            if (better == Vector256<float>.Zero) continue;
            var betterInt = better.AsInt32();
            for (int i = 0; i < n; i++) best[i] = Vector256.ConditionalSelect(betterInt, aux[i], best[i]);
            bestError = Vector256.ConditionalSelect(better, error, bestError);
            scale = Vector256.ConditionalSelect(better, thisScale, scale);
            min = Vector256.ConditionalSelect(better, thisMin, min);
        }

        // Back to one value per sub-block; negation and the flat case are done per lane, as the scalar search does them.
        Span<float> laneScale = stackalloc float[Lanes];
        Span<float> laneMin = stackalloc float[Lanes];
        Span<float> laneFlatMin = stackalloc float[Lanes];
        Span<int> laneFlat = stackalloc int[Lanes];
        Span<int> laneLevels = stackalloc int[Lanes];
        scale.CopyTo(laneScale);
        min.CopyTo(laneMin);
        flatMin.CopyTo(laneFlatMin);
        flat.AsInt32().CopyTo(laneFlat);
        for (int i = 0; i < n; i++)
        {
            best[i].CopyTo(laneLevels);
            for (int j = 0; j < count; j++) levels[j * n + i] = laneFlat[j] != 0 ? (byte)0 : (byte)laneLevels[j];
        }
        for (int j = 0; j < count; j++)
        {
            bool isFlat = laneFlat[j] != 0;
            scales[j] = isFlat ? 0f : laneScale[j];
            theMins[j] = -(isFlat ? laneFlatMin[j] : laneMin[j]);
        }
    }

    /// <summary>
    /// <see cref="KQuantScaleSearch.MakeQxQuants"/> with x² weights (no importance) for eight
    /// sub-blocks: <paramref name="xt"/> in lane layout (n × 8), levels (offset by nmax) written
    /// sub-block after sub-block for the first <paramref name="count"/> lanes, scales per lane.
    /// </summary>
    public static void MakeQxQuants(int nmax, int n, ReadOnlySpan<float> xt, int count, Span<sbyte> levels, Span<float> scales)
    {
        if (n < 1 || n > MaxLength || xt.Length < n * Lanes) throw new ArgumentOutOfRangeException(nameof(n));
        Span<Vector256<int>> best = stackalloc Vector256<int>[MaxLength];
        Span<Vector256<int>> aux = stackalloc Vector256<int>[MaxLength];
        var zero = Vector256<float>.Zero;
        var low = Vector256.Create(-nmax);
        var high = Vector256.Create(nmax - 1);

        var max = SignedAbsMax(xt, n, out var amax);
        // An all-(near-)zero sub-block gets levels 0 and scale 0; its lane's arithmetic below is discarded.
        var flat = Vector256.LessThan(amax, Vector256.Create(KQuantScaleSearch.GroupMaxEps));

        var (sumlx, suml2) = RoundWeighted(xt, n, Vector256.Create((float)-nmax) / max, low, high, best);
        var scale = Vector256.ConditionalSelect(Vector256.Equals(suml2, zero), zero, sumlx / suml2);
        var bestScore = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            (sumlx, suml2) = RoundWeighted(xt, n, Vector256.Create(-(nmax + 0.1f * step)) / max, low, high, aux);
            var better = Vector256.GreaterThan(suml2, zero) & Vector256.GreaterThan(sumlx * sumlx, bestScore * suml2);
            if (better == Vector256<float>.Zero) continue;
            var betterInt = better.AsInt32();
            for (int i = 0; i < n; i++) best[i] = Vector256.ConditionalSelect(betterInt, aux[i], best[i]);
            scale = Vector256.ConditionalSelect(better, sumlx / suml2, scale);
            bestScore = Vector256.ConditionalSelect(better, scale * sumlx, bestScore);
        }

        StoreSignedLanes(best, n, nmax, flat, scale, count, levels, scales);
    }
    /// <summary>
    /// <see cref="KQuantScaleSearch.MakeQ3Quants"/> for eight sub-blocks: <paramref name="xt"/> in lane
    /// layout (n × 8), levels (offset by nmax) written sub-block after sub-block for the first
    /// <paramref name="count"/> lanes, scales per lane. The refinement sweeps go on while any lane
    /// changes; a sweep that changes nothing in a lane leaves that lane as it was, which is where the
    /// scalar search stops, so running it anyway is the same.
    /// </summary>
    public static void MakeQ3Quants(int nmax, int n, ReadOnlySpan<float> xt, int count, Span<sbyte> levels, Span<float> scales)
    {
        if (n < 1 || n > MaxLength || xt.Length < n * Lanes) throw new ArgumentOutOfRangeException(nameof(n));
        Span<Vector256<int>> level = stackalloc Vector256<int>[MaxLength];
        var zero = Vector256<float>.Zero;
        var low = Vector256.Create(-nmax);
        var high = Vector256.Create(nmax - 1);

        var max = SignedAbsMax(xt, n, out var amax);
        var flat = Vector256.LessThan(amax, Vector256.Create(KQuantScaleSearch.GroupMaxEps));

        var (sumlx, suml2) = RoundWeighted(xt, n, Vector256.Create((float)-nmax) / max, low, high, level);
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var changed = Vector256<float>.Zero;
            for (int i = 0; i < n; i++)
            {
                var x = Load(xt, i);
                var w = x * x;
                var l = level[i];
                var lf = Vector256.ConvertToSingle(l);
                var without = sumlx - w * x * lf;
                var sl2 = suml2 - w * lf * lf;
                var newL = Vector256.Min(high, Vector256.Max(low, NearestInt(x * sl2 / without)));
                var newLf = Vector256.ConvertToSingle(newL);
                var slx = without + w * x * newLf;
                sl2 += w * newLf * newLf;
                var accept = Vector256.GreaterThan(without, zero)
                    & ~Vector256.Equals(newL, l).AsSingle()
                    & Vector256.GreaterThan(sl2, zero)
                    & Vector256.GreaterThan(slx * slx * suml2, sumlx * sumlx * sl2);
                if (accept == Vector256<float>.Zero) continue;
                level[i] = Vector256.ConditionalSelect(accept.AsInt32(), newL, l);
                sumlx = Vector256.ConditionalSelect(accept, slx, sumlx);
                suml2 = Vector256.ConditionalSelect(accept, sl2, suml2);
                changed |= accept;
            }
            if (changed == Vector256<float>.Zero) break;
        }
        var scale = Vector256.ConditionalSelect(Vector256.GreaterThan(suml2, zero), sumlx / suml2, zero);

        StoreSignedLanes(level, n, nmax, flat, scale, count, levels, scales);
    }

    /// <summary>
    /// Back to one value per sub-block for the first <paramref name="count"/> lanes: levels offset by
    /// <paramref name="nmax"/>, written sub-block after sub-block, and scales; flat lanes get 0 for both.
    /// </summary>
    private static void StoreSignedLanes(ReadOnlySpan<Vector256<int>> lanes, int n, int nmax, Vector256<float> flat, Vector256<float> scale,
        int count, Span<sbyte> levels, Span<float> scales)
    {
        Span<float> laneScale = stackalloc float[Lanes];
        Span<int> laneFlat = stackalloc int[Lanes];
        Span<int> laneLevels = stackalloc int[Lanes];
        scale.CopyTo(laneScale);
        flat.AsInt32().CopyTo(laneFlat);
        for (int i = 0; i < n; i++)
        {
            lanes[i].CopyTo(laneLevels);
            for (int j = 0; j < count; j++) levels[j * n + i] = laneFlat[j] != 0 ? (sbyte)0 : (sbyte)(laneLevels[j] + nmax);
        }
        for (int j = 0; j < count; j++) scales[j] = laneFlat[j] != 0 ? 0f : laneScale[j];
    }
}
