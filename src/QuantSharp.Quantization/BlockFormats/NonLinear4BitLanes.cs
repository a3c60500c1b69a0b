// The IQ4 grid lookup and block-scale search in 8-lane vectors, with exactly the scalar results.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// <see cref="NonLinear4Bit.BlockScale"/> for eight 32-weight blocks at once (lane j = block j, inputs
/// transposed: element i of block j at [i·8 + j]) and <see cref="GgmlScalar.BestIndex"/> on the IQ4 grid
/// per lane. Every lane performs the scalar search's single-precision operations in the scalar order,
/// sums element by element, so the scales are bit-identical (NonLinear4BitLanesTests checks it); the
/// binary search becomes a count of the grid gaps whose far side is at least as close, which is the
/// same index. Callers use the scalar code when <see cref="IsSupported"/> is false.
/// </summary>
internal static class NonLinear4BitLanes
{
    /// <summary>Blocks searched at once.</summary>
    public const int Lanes = 8;

    private const int Qk = NonLinear4Bit.BlockSize;

    /// <summary>Whether 8-lane float vectors are accelerated here.</summary>
    public static bool IsSupported => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// Per lane: the index of the grid value nearest to <paramref name="v"/> exactly as ggml's
    /// best_index_int8 picks it, and that value (<paramref name="q"/>). BestIndex returns k + 1 rather
    /// than k for v in [grid[k], grid[k+1]) when v − grid[k] ≥ grid[k+1] − v, and that test holds for
    /// every gap below v's and for no gap above it, so the index is the number of gaps where it holds
    /// (also at the ends, where BestIndex clamps). The grid value is grid[0] plus those gaps' widths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> NearestIndex(Vector256<float> v, out Vector256<float> q)
    {
        var values = NonLinear4Bit.Values;
        var index = Vector256<int>.Zero;
        var value = Vector256.Create((float)values[0]);
        for (int j = 1; j < 16; j++)
        {
            float lo = values[j - 1], hi = values[j];
            var up = Vector256.GreaterThanOrEqual(v - Vector256.Create(lo), Vector256.Create(hi) - v);
            index -= up.AsInt32();
            value += up & Vector256.Create(hi - lo);
        }
        // A NaN fails every comparison; BestIndex's search ends on the last index for it.
        var nan = ~Vector256.Equals(v, v);
        index = Vector256.ConditionalSelect(nan.AsInt32(), Vector256.Create(15), index);
        q = Vector256.ConditionalSelect(nan, Vector256.Create((float)values[15]), value);
        return index;
    }

    /// <summary>The grid indices of id·x for one 32-weight block, as the scalar re-pick after the scale search.</summary>
    public static void PickLevels(ReadOnlySpan<float> x, float id, Span<byte> levels)
    {
        if (x.Length < Qk || levels.Length < Qk) throw new ArgumentException("an IQ4 block is 32 weights");
        ref float src = ref MemoryMarshal.GetReference(x);
        var s = Vector256.Create(id);
        var i0 = NearestIndex(Vector256.LoadUnsafe(ref src, 0) * s, out _);
        var i1 = NearestIndex(Vector256.LoadUnsafe(ref src, 8) * s, out _);
        var i2 = NearestIndex(Vector256.LoadUnsafe(ref src, 16) * s, out _);
        var i3 = NearestIndex(Vector256.LoadUnsafe(ref src, 24) * s, out _);
        // Narrow keeps element order (first argument, then second); indices fit in a byte.
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).AsByte().CopyTo(levels);
    }

    /// <summary>Σ w·q·x and Σ w·q² per lane, q the grid value nearest to id·x, in element order as the scalar search sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> SumQx, Vector256<float> SumQ2) WeightedSums(ref float xr, ref float wr, Vector256<float> id)
    {
        Vector256<float> sumqx = Vector256<float>.Zero, sumq2 = Vector256<float>.Zero;
        for (int j = 0; j < Qk; j++)
        {
            var x = Vector256.LoadUnsafe(ref xr, (nuint)(j * Lanes));
            NearestIndex(id * x, out var q);
            var wq = Vector256.LoadUnsafe(ref wr, (nuint)(j * Lanes)) * q;
            sumqx += wq * x;
            sumq2 += wq * q;
        }
        return (sumqx, sumq2);
    }

    /// <summary>
    /// <see cref="NonLinear4Bit.BlockScale"/>'s scale for eight blocks: <paramref name="xt"/> and the
    /// weights <paramref name="wt"/> in lane layout (32 × 8); scales of the first <paramref name="count"/>
    /// lanes written to <paramref name="scales"/> (0 for an all-(near-)zero block).
    /// </summary>
    public static void BlockScales(ReadOnlySpan<float> xt, ReadOnlySpan<float> wt, int count, Span<float> scales)
    {
        if (xt.Length < Qk * Lanes || wt.Length < Qk * Lanes) throw new ArgumentException("eight transposed 32-weight blocks expected");
        ref float xr = ref MemoryMarshal.GetReference(xt);
        ref float wr = ref MemoryMarshal.GetReference(wt);
        var values = NonLinear4Bit.Values;
        var zero = Vector256<float>.Zero;

        Vector256<float> amax = zero, max = zero;
        for (int j = 0; j < Qk; j++)
        {
            var x = Vector256.LoadUnsafe(ref xr, (nuint)(j * Lanes));
            var ax = Vector256.Abs(x);
            var larger = Vector256.GreaterThan(ax, amax);
            amax = Vector256.ConditionalSelect(larger, ax, amax);
            max = Vector256.ConditionalSelect(larger, x, max);
        }
        // Such a block's scale is 0; its lane's arithmetic below is discarded.
        var flat = Vector256.LessThan(amax, Vector256.Create(WeightedScaleSearch.GroupMaxEps));

        // -max / grid[0]; max is non-zero in every lane that is kept, so 0 − max is −max there.
        var d = (zero - max) / Vector256.Create((float)values[0]);
        var (sumqx, sumq2) = WeightedSums(ref xr, ref wr, Vector256<float>.One / d);
        d = Vector256.ConditionalSelect(Vector256.GreaterThan(sumq2, zero), sumqx / sumq2, zero);
        var best = d * sumqx;
        for (int step = -7; step <= 7; step++)
        {
            (sumqx, sumq2) = WeightedSums(ref xr, ref wr, Vector256.Create((float)(step + values[0])) / max);
            var better = Vector256.GreaterThan(sumq2, zero) & Vector256.GreaterThan(sumqx * sumqx, best * sumq2);
            d = Vector256.ConditionalSelect(better, sumqx / sumq2, d);
            best = Vector256.ConditionalSelect(better, d * sumqx, best);
        }

        d = Vector256.ConditionalSelect(flat, zero, d);
        Span<float> lanes = stackalloc float[Lanes];
        d.CopyTo(lanes);
        lanes[..count].CopyTo(scales);
    }
}
