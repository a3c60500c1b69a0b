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

/// <summary>One activation row as the IQ4 row-quad kernels read it: the int8 values and, where present, the sign planes.</summary>
internal readonly unsafe struct Iq4ActRow(in ActTile a, int j)
{
    public readonly sbyte* Q = a.Q(j);
    public readonly byte* U = a.U(j), G = a.G(j);
}

/// <summary>
/// How an IQ4 row-quad kernel gets the int16 pair sums of value·a for a 32-weight group: by moving the weight's sign
/// onto the activation (<see cref="ActivationSigns"/>, plain AVX-512BW) or the activation's sign onto the weight
/// (<see cref="WeightSigns"/>, VBMI). Both give the same integers, so the kernels give the same bits either way.
/// </summary>
internal unsafe interface IIq4Signs
{
    /// <summary>The weight-side unpacking of 16 index bytes per row (row i in 128-bit lane i), shared by every activation row.</summary>
    static abstract Iq4Quad.Unpacked Unpack(Vector512<byte> packed);

    /// <summary>Pair sums of the group's low (weights 0..15) and high (16..31) halves against activations at+0..at+31 of row <paramref name="r"/>.</summary>
    static abstract void Pairs(in Iq4Quad.Unpacked u, in Iq4ActRow r, nint at, out Vector512<short> low, out Vector512<short> high);
}

/// <summary>|value| by vpshufb, the value's sign onto the activation (select a or −a): four shuffles per group, two negations and selects per activation row.</summary>
internal unsafe struct ActivationSigns : IIq4Signs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Iq4Quad.Unpacked Unpack(Vector512<byte> packed) => Iq4Quad.Unpack(packed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pairs(in Iq4Quad.Unpacked u, in Iq4ActRow r, nint at, out Vector512<short> low, out Vector512<short> high)
    {
        var x0 = RowQuad.Broadcast16(r.Q + at);
        var x1 = RowQuad.Broadcast16(r.Q + at + 16);
        Iq4Quad.Pairs(u, x0, -x0, x1, -x1, out low, out high);
    }
}

/// <summary>
/// VBMI: the activation's sign onto the weight. The activations carry |a| and a sign plane (0x10 where a &lt; 0,
/// <see cref="Q8Activations"/>), so one vpternlogd forms index | sign and one vpermb into a 32-entry table
/// (the sixteen values, then their negations) gives sign(a)·value; vpmaddubsw(|a|, sign(a)·value) is the same
/// pair sum as |value| × sign(value)·a. Per group: one shift shared by all activation rows, then two
/// ternlogs and two permutes per row, against four shuffles per group and two negations and selects per row.
/// Both operands stay within ±127, so the pair sums are exact as before.
/// </summary>
internal unsafe struct WeightSigns : IIq4Signs
{
    /// <summary>Table entries 0..15: the IQ4 values; 16..31: their negations (vpermb reads index bits 0..5; 32..63 are never indexed).</summary>
    private static Vector512<sbyte> SignedValues
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            (sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
            127, 104, 83, 65, 49, 35, 22, 10, -1, -13, -25, -38, -53, -69, -89, -113,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    /// <summary>Low: the packed bytes (low nibbles selected later), High: shifted down by four (high nibbles, selected later).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Iq4Quad.Unpacked Unpack(Vector512<byte> packed)
    {
        Iq4Quad.Unpacked u;
        u.Low = packed;
        u.High = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte();
        u.NegLow = default;
        u.NegHigh = default;
        return u;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pairs(in Iq4Quad.Unpacked u, in Iq4ActRow r, nint at, out Vector512<short> low, out Vector512<short> high)
    {
        low = Avx512BW.MultiplyAddAdjacent(RowQuad.Broadcast16(r.U + at), Signed(u.Low, r.G + at));
        high = Avx512BW.MultiplyAddAdjacent(RowQuad.Broadcast16(r.U + at + 16), Signed(u.High, r.G + at + 16));
    }

    /// <summary>sign(a)·value for the nibbles in bits 0..3 of <paramref name="bits"/>: index | sign-plane byte, then the table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Signed(Vector512<byte> bits, byte* g)
    {
        // (bits & 0x0F) | g: ternlog truth table 0xEA = (A & B) | C.
        var index = Avx512F.TernaryLogic(bits, Vector512.Create((byte)0x0F), RowQuad.Broadcast16(g), 0xEA);
        return Avx512Vbmi.PermuteVar64x8(SignedValues, index.AsSByte());
    }
}
