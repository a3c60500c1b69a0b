// Where a row-quad kernel reads its four weight rows from: the file's row layout or an interleaved copy.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The loads of a row-quad kernel (<see cref="RowQuad"/>), addressed as in the file's row layout:
/// block start <c>ob</c> (b · block bytes) plus a constant offset inside the block. The kernel's
/// arithmetic is written once against this interface; <see cref="RowPointers"/> reads four rows of
/// the GGUF data, <see cref="InterleavedQuad{TL}"/> reads the quad-interleaved copy
/// (<see cref="QuadInterleave"/>), where a block's sixteen-byte chunk of the four rows is one
/// 64-byte load and a quad is one sequential stream. Both give the kernel the same register
/// contents, so results are bit-identical.
/// </summary>
internal unsafe interface IQuadSource
{
    /// <summary>The 16 bytes at <paramref name="within"/> of block <paramref name="ob"/> of each row, row i in 128-bit lane i.</summary>
    Vector512<byte> Load16(nint ob, int within);

    /// <summary>The fp16 at <paramref name="within"/> of each row in the low 16 bits of lane i (high bits unspecified).</summary>
    Vector128<int> Halves(nint ob, int within);

    /// <summary>The 8 bytes at <paramref name="within"/> of block <paramref name="ob"/> of each row, row i in 64-bit element i (IQ4_XS's block head).</summary>
    Vector256<ulong> Load8(nint ob, int within);

    /// <summary>
    /// The 32-bit word at <paramref name="within"/> of block <paramref name="ob"/> of each row in lane i (Q2_K's d|dmin);
    /// the four bytes must lie in one sixteen-byte chunk or in the block's odd bytes.
    /// </summary>
    Vector128<int> Words(nint ob, int within);

    /// <summary>
    /// The sixteen bytes that end with block <paramref name="ob"/> of each row, row i in 128-bit lane i, of which only the
    /// block's odd bytes (its last BlockBytes mod 16) are specified: Q3_K reads its scales and d from them with one load per row.
    /// Only for layouts whose odd bytes close the block (<see cref="IQuadLayout.OddFirst"/> false).
    /// </summary>
    Vector512<byte> Tail16(nint ob, int blockBytes);
}

/// <summary>Four rows of the file's layout (the last quad of a range may repeat its final row).</summary>
internal readonly unsafe struct RowPointers(byte* w0, byte* w1, byte* w2, byte* w3) : IQuadSource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<byte> Load16(nint ob, int within) => RowQuad.Load16(w0, w1, w2, w3, ob + within);

    // Reads the word that ends with the fp16 where one exists, so no byte past a block's end is touched.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<int> Halves(nint ob, int within)
        => within >= 2 ? Vector128.ShiftRightLogical(RowQuad.Words(w0, w1, w2, w3, ob + within - 2), 16) : RowQuad.Words(w0, w1, w2, w3, ob + within);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<ulong> Load8(nint ob, int within)
        => Vector256.Create(
            Unsafe.ReadUnaligned<ulong>(w0 + ob + within), Unsafe.ReadUnaligned<ulong>(w1 + ob + within),
            Unsafe.ReadUnaligned<ulong>(w2 + ob + within), Unsafe.ReadUnaligned<ulong>(w3 + ob + within));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<int> Words(nint ob, int within) => RowQuad.Words(w0, w1, w2, w3, ob + within);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<byte> Tail16(nint ob, int blockBytes) => RowQuad.Load16(w0, w1, w2, w3, ob + blockBytes - 16);
}

/// <summary>
/// How a block type is laid out in the quad-interleaved copy: the block's bytes minus its
/// odd bytes (block bytes mod 16) form sixteen-byte chunks, and chunk c of the four
/// rows is stored as 64 consecutive bytes (row i at 16·i); the odd bytes (the fp16 scales of the
/// legacy types, Q6_K's d) are stored row after row before or after the chunks, as they sit in
/// the block. A quad block therefore takes exactly four blocks' bytes.
/// </summary>
internal interface IQuadLayout
{
    /// <summary>Bytes of one block of one row.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>Whether the odd bytes open the block (legacy types: d first) rather than close it (Q6_K: d last).</summary>
    static abstract bool OddFirst { get; }
}

/// <summary>A quad of the interleaved copy starting at <c>p</c>: block ob of the rows is at p + 4·ob.</summary>
internal readonly unsafe struct InterleavedQuad<TL>(byte* p) : IQuadSource where TL : IQuadLayout
{
    private static int Odd => TL.BlockBytes % 16;

    /// <summary>Offset inside a quad block of byte <paramref name="within"/> of row <paramref name="row"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Offset(int row, int within)
    {
        int odd = Odd, chunkStart = TL.OddFirst ? odd : 0, oddStart = TL.OddFirst ? 0 : TL.BlockBytes - odd;
        if (within >= oddStart && within < oddStart + odd) // odd bytes: row after row
            return (TL.OddFirst ? 0 : 4 * (TL.BlockBytes - odd)) + odd * row + (within - oddStart);
        int c = within - chunkStart;
        return (TL.OddFirst ? 4 * odd : 0) + 64 * (c / 16) + 16 * row + c % 16;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<byte> Load16(nint ob, int within) => Vector512.Load(p + 4 * ob + Offset(0, within));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<int> Halves(nint ob, int within)
    {
        byte* q = p + 4 * ob;
        // The fp16 scale that makes a block's two odd bytes: the four rows' copies are 8 consecutive bytes.
        if (Odd == 2 && Offset(1, within) == Offset(0, within) + 2)
            return Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(q + Offset(0, within))).AsUInt16());
        return Vector128.Create(
            (int)Unsafe.ReadUnaligned<ushort>(q + Offset(0, within)), Unsafe.ReadUnaligned<ushort>(q + Offset(1, within)),
            Unsafe.ReadUnaligned<ushort>(q + Offset(2, within)), Unsafe.ReadUnaligned<ushort>(q + Offset(3, within)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<ulong> Load8(nint ob, int within)
    {
        byte* q = p + 4 * ob;
        // Eight odd bytes per row (IQ4_XS's head): the four rows' copies are 32 consecutive bytes.
        if (Odd == 8 && Offset(1, within) == Offset(0, within) + 8)
            return Vector256.Load((ulong*)(q + Offset(0, within)));
        return Vector256.Create(
            Unsafe.ReadUnaligned<ulong>(q + Offset(0, within)), Unsafe.ReadUnaligned<ulong>(q + Offset(1, within)),
            Unsafe.ReadUnaligned<ulong>(q + Offset(2, within)), Unsafe.ReadUnaligned<ulong>(q + Offset(3, within)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<int> Words(nint ob, int within)
    {
        byte* q = p + 4 * ob;
        // Four odd bytes per row (Q2_K's d|dmin): the four rows' copies are 16 consecutive bytes.
        if (Odd == 4 && Offset(1, within) == Offset(0, within) + 4)
            return Vector128.Load((int*)(q + Offset(0, within)));
        return Vector128.Create(
            Unsafe.ReadUnaligned<int>(q + Offset(0, within)), Unsafe.ReadUnaligned<int>(q + Offset(1, within)),
            Unsafe.ReadUnaligned<int>(q + Offset(2, within)), Unsafe.ReadUnaligned<int>(q + Offset(3, within)));
    }

    // Row i's odd bytes end its part of the odd region; the sixteen bytes ending there start inside the quad block
    // (the chunks or row i − 1's odd bytes, both in bounds), which is what the caller leaves unspecified.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<byte> Tail16(nint ob, int blockBytes)
    {
        byte* q = p + 4 * ob - 16 + Odd;
        int oddStart = TL.OddFirst ? 0 : TL.BlockBytes - Odd;
        return RowQuad.Load16(q + Offset(0, oddStart), q + Offset(1, oddStart), q + Offset(2, oddStart), q + Offset(3, oddStart), 0);
    }
}
