// The row-quad reduction order (four lanes per weight row) in 128-bit, 256-bit and scalar form.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The AVX-512 row-quad kernels (<see cref="RowQuad"/>) give each weight row four int32 lanes per
/// block: for a 32-value block, lane l holds the exact sum over values 4l..4l+3 and 16+4l..16+4l+3.
/// Each lane is converted to fp32 once per block and accumulated with one FMA by (weight scale ×
/// activation scale), and the row's result is ((l0 + l2) + (l1 + l3)). Kernels whose AVX2 and scalar
/// paths use these helpers instead of <see cref="LaneSums"/> repeat that arithmetic operation by
/// operation, so their results do not depend on the ISA (nor on M, as every path computes a row
/// the same way for any number of activation rows).
/// </summary>
internal static unsafe class QuadLanes
{
    /// <summary>
    /// The eight int32 lanes of a 256-bit 32-value dot (lane m covering values 4m..4m+3, where
    /// vpmaddubsw + vpmaddwd and vpdpbusd put them) folded into the row's four: lane l + lane l+4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Fold(Vector256<int> lanes) => lanes.GetLower() + lanes.GetUpper();

    /// <summary>fma(cvt(lanes), scale, acc): one block of one row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Accumulate(Vector128<float> acc, Vector128<int> lanes, float scale)
        => Fma.MultiplyAdd(Sse2.ConvertToVector128Single(lanes), Vector128.Create(scale), acc);

    /// <summary>The scalar form: acc[l] = fma((float)lanes[l], scale, acc[l]) for l = 0..3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate(float* acc, int* lanes, float scale)
    {
        for (int l = 0; l < 4; l++) acc[l] = MathF.FusedMultiplyAdd(lanes[l], scale, acc[l]);
    }

    /// <summary>((l0 + l2) + (l1 + l3)), the order of <see cref="RowQuad.Sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> acc) => (acc.GetElement(0) + acc.GetElement(2)) + (acc.GetElement(1) + acc.GetElement(3));

    /// <summary>The scalar form of <see cref="Sum(Vector128{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float* l) => (l[0] + l[2]) + (l[1] + l[3]);

    /// <summary>Two rows, one per 128-bit lane: results[0] and results[1] as <see cref="Sum(Vector128{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Sum(Vector256<float> acc, float* results)
    {
        var t = acc + Avx.Permute(acc, 0b01_00_11_10);
        t += Avx.Permute(t, 0b10_11_00_01);
        results[0] = t.ToScalar();
        results[1] = t.GetElement(4);
    }

    /// <summary>Lane 0 = <paramref name="value"/> in both 128-bit halves (a per-row integer offset for two rows side by side).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> FirstLanes(int value) => Vector256.Create(value, 0, 0, 0, value, 0, 0, 0);
}
