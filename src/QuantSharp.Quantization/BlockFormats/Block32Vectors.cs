// A 32-value block as four 256-bit vectors: the load and the largest magnitude, shared by the Q4_0 and Q8_0 vector quantizers.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>Loads of 32 floats into four <see cref="Vector256{T}"/> and their max |x| (order-independent, so equal to the scalar loop's).</summary>
internal static class Block32Vectors
{
    /// <summary>x[0..32) as v0 = x[0..8), v1 = x[8..16), v2 = x[16..24), v3 = x[24..32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(ReadOnlySpan<float> x, out Vector256<float> v0, out Vector256<float> v1, out Vector256<float> v2, out Vector256<float> v3)
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        v0 = Vector256.LoadUnsafe(ref src, 0);
        v1 = Vector256.LoadUnsafe(ref src, 8);
        v2 = Vector256.LoadUnsafe(ref src, 16);
        v3 = Vector256.LoadUnsafe(ref src, 24);
    }

    /// <summary>The largest |x| over the four vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AbsMax(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3)
    {
        var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        var m128 = Vector128.Max(m.GetLower(), m.GetUpper());
        return MathF.Max(MathF.Max(m128[0], m128[1]), MathF.Max(m128[2], m128[3]));
    }
}
