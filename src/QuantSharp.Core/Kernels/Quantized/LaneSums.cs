// Fixed-order float reduction of the eight int32 lanes the integer kernels produce, in SIMD and scalar form.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The kernels that use these helpers keep one integer accumulator per lane l (0..7) holding the
/// exact contribution of the values at byte positions 4l..4l+3 of every 32-value vector (where
/// vpmaddubsw + vpmaddwd and vpdpbusd both put them), convert it to fp32 once per block and
/// accumulate it per lane with one FMA. Because the integers are exact and every float operation
/// is named here, the scalar kernels can repeat the SIMD ones operation by operation: scalar,
/// AVX2 and VNNI give bit-identical results.
/// </summary>
internal static unsafe class LaneSums
{
    /// <summary>acc[l] = fma((float)lanes[l], scale, acc[l]): the scalar form of one vector FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate(float* acc, int* lanes, float scale)
    {
        for (int l = 0; l < 8; l++) acc[l] = MathF.FusedMultiplyAdd(lanes[l], scale, acc[l]);
    }

    /// <summary>The vector form: fma(cvt(lanes), scale, acc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<int> lanes, float scale)
        => Fma.MultiplyAdd(Avx.ConvertToVector256Single(lanes), Vector256.Create(scale), acc);

    /// <summary>((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the order <see cref="Sum(Vector256{float})"/> uses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float* l)
    {
        float h0 = l[0] + l[4], h1 = l[1] + l[5], h2 = l[2] + l[6], h3 = l[3] + l[7];
        return (h0 + h2) + (h1 + h3);
    }

    /// <summary>Horizontal sum in a fixed order (not Vector256.Sum, whose order is unspecified).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        var h = v.GetLower() + v.GetUpper();
        h += Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1));
        return h.ToScalar() + h.GetElement(1);
    }

    /// <summary>Zeroes eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Clear(int* lanes)
    {
        for (int l = 0; l < 8; l++) lanes[l] = 0;
    }

    /// <summary>
    /// lanes[l] += m[l]·s[l] + m[l+8]·s[l+8]: a per-16-value weight factor (a k-quant min or scale)
    /// times the activations' 16-value sums, in the lanes <see cref="Products16"/> uses.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddProducts16(int* lanes, int* m, int* s, int factor)
    {
        for (int l = 0; l < 8; l++) lanes[l] += factor * (m[l] * s[l] + m[l + 8] * s[l + 8]);
    }

    /// <summary>The vector form: m[0..8)·s[0..8) + m[8..16)·s[8..16) lane-wise (vpmulld).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Products16(Vector256<int> m0, Vector256<int> m1, int* s)
        => Avx2.MultiplyLow(m0, Vector256.Load(s)) + Avx2.MultiplyLow(m1, Vector256.Load(s + 8));
}
