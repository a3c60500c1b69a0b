// Byte-level unpacking shared by the integer kernels: fp16 scales, Q5's fifth bits and the IQ4 non-linear table.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>Vector unpacking of weight bits that are not plain nibbles.</summary>
internal static unsafe class WeightBits
{
    // 2¹¹² exactly (bits 0x77800000); a constant, because a static readonly field puts a class-init
    // check with a helper call in the loop, which again makes the JIT spill the accumulators.
    internal const float TwoPow112 = 5.192296858534828E+33f;

    /// <summary>
    /// fp16 at <paramref name="p"/> as fp32, bit-identical to (float)Half for every input but
    /// inlined: (float)Half is a call, and a call per block makes the JIT spill every live vector
    /// register (all are caller-saved), which cost the 32-weight kernels about 3× in GEMV. The
    /// 15 exponent-and-mantissa bits shifted into place read as a float 2¹¹² too small (bias 15 vs
    /// 127), so one exact multiply rescales normals and subnormals alike; Inf/NaN are patched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Fp16(byte* p)
    {
        uint h = Unsafe.ReadUnaligned<ushort>(p);
        uint em = h & 0x7FFF;
        uint bits = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(em << 13) * TwoPow112);
        if (em >= 0x7C00) bits = (em << 13) | 0x7F800000;
        return BitConverter.UInt32BitsToSingle(bits | ((h & 0x8000) << 16));
    }

    /// <summary>
    /// Byte i = 0x10 where bit i of <paramref name="qh"/> is set, else 0 (Q5_0/Q5_1 keep weight i's
    /// fifth bit in bit i, the same order <see cref="IntDot.Nibbles32"/> puts the nibbles in).
    /// Byte i picks byte i/8 of the broadcast word, then tests bit i%8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> FifthBits(uint qh)
    {
        var pick = Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        var bytes = Avx2.Shuffle(Vector256.Create(qh).AsByte(), pick);
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return Vector256.Equals(bytes & bit, bit) & Vector256.Create((byte)0x10);
    }

    /// <summary>
    /// IQ4_NL/IQ4_XS values of 32 indices 0..15 via vpshufb on ggml's 16-entry table (kvalues_iq4nl, also
    /// LegacyDequant.Iq4NlValues),
    /// repeated in both 128-bit lanes because vpshufb looks up within a lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Iq4Values(Vector256<byte> indices)
    {
        var table = Vector256.Create(
            (sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
            -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
        return Avx2.Shuffle(table, indices.AsSByte());
    }

    /// <summary>
    /// MXFP4 values of 32 indices 0..15 via vpshufb: twice the E2M1 value (ggml's kvalues_mxfp4, also
    /// Mxfp4Dequant.DoubledValues), so the block scale is 2^(e − 128) rather than 2^(e − 127).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Mxfp4Values(Vector256<byte> indices)
    {
        var table = Vector256.Create(
            (sbyte)0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
            0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
        return Avx2.Shuffle(table, indices.AsSByte());
    }
}
