// The 512-bit non-linear-table arithmetic shared by the IQ4_NL and IQ4_XS row-quad kernels.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// IQ4_NL and IQ4_XS store 4-bit indices into the same sixteen-entry int8 table, 16 bytes per 32 weights
/// (low nibbles weights 0..15, high nibbles 16..31). AVX-512 has no vpsignb, so the row-quad kernels
/// look up |value| with vpshufb (the unsigned operand of vpmaddubsw) and move the value's sign onto
/// the activation by selecting a or −a (as <see cref="DotQ8_0"/>'s GEMM tile does): a second vpshufb of
/// the same indices gives the select mask (the table's negative entries are exactly indices 0..7), and
/// the select is one vpternlogd. (A compare into a mask register needed a vpmovm2b per half to become a
/// vector again.) |value| ≤ 127 and |a| ≤ 127 (<see cref="Q8Activations"/>), so each vpmaddubsw pair sum
/// is at most 2·127·127 = 32258 and never saturates; the low and high halves' pair sums are widened
/// separately (together they could exceed int16).
/// </summary>
internal static unsafe class Iq4Quad
{
    /// <summary>
    /// |value| of table entry i (<see cref="WeightBits.Iq4Values"/>) at byte i of every 128-bit lane. Written out
    /// in full: a lane broadcast of a 128-bit constant is rebuilt with two inserts at every use.
    /// </summary>
    public static Vector512<byte> Magnitudes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            (byte)127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113,
            127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113,
            127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113,
            127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113);
    }

    /// <summary>All-ones at byte i of every lane where table entry i is negative (i &lt; 8).</summary>
    public static Vector512<sbyte> Negatives
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(ulong.MaxValue, 0, ulong.MaxValue, 0, ulong.MaxValue, 0, ulong.MaxValue, 0).AsSByte(); // bytes 0..7 of each lane
    }

    /// <summary>One 32-weight group of a quad: 16 packed bytes per row unpacked to |value| and sign masks for both halves.</summary>
    internal struct Unpacked
    {
        /// <summary>|value| of weights 0..15 (low nibbles) and 16..31 (high nibbles), row i in 128-bit lane i.</summary>
        public Vector512<byte> Low, High;

        /// <summary>All-ones bytes where the weight is negative (index &lt; 8).</summary>
        public Vector512<sbyte> NegLow, NegHigh;
    }

    /// <summary>Unpacks 16 index bytes per row (row i in 128-bit lane i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Unpacked Unpack(Vector512<byte> packed)
    {
        var nibble = Vector512.Create((byte)0x0F);
        var lo = packed & nibble;
        var hi = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble;
        Unpacked u;
        u.Low = Avx512BW.Shuffle(Magnitudes, lo);
        u.High = Avx512BW.Shuffle(Magnitudes, hi);
        u.NegLow = Avx512BW.Shuffle(Negatives, lo.AsSByte());
        u.NegHigh = Avx512BW.Shuffle(Negatives, hi.AsSByte());
        return u;
    }

    /// <summary>
    /// The int16 pair sums of value·a for the low half (activations <paramref name="x0"/>, weights 0..15)
    /// and the high half (<paramref name="x1"/>, weights 16..31); <paramref name="n0"/>, <paramref name="n1"/> = −x0, −x1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pairs(in Unpacked u, Vector512<sbyte> x0, Vector512<sbyte> n0, Vector512<sbyte> x1, Vector512<sbyte> n1,
        out Vector512<short> low, out Vector512<short> high)
    {
        low = Avx512BW.MultiplyAddAdjacent(u.Low, Vector512.ConditionalSelect(u.NegLow, n0, x0));
        high = Avx512BW.MultiplyAddAdjacent(u.High, Vector512.ConditionalSelect(u.NegHigh, n1, x1));
    }
}
