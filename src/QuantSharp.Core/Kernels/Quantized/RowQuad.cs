// Shared pieces of the 512-bit decode kernels that run four weight rows against one activation row.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A row quad keeps weight row i (0..3) of four in 128-bit lane i of a 512-bit register, so one
/// instruction unpacks, multiplies and scales a block of all four rows, and the per-block fp16
/// scales of the four rows are converted together. Each row owns four int32 / fp32 lanes; a
/// row's result is the same whichever quad slot or thread computes it.
/// </summary>
internal static unsafe class RowQuad
{
    /// <summary>
    /// Four fp16 values (the low 16 bits of each int lane; the high bits are ignored) as fp32,
    /// bit-identical to <see cref="WeightBits.Fp16"/> lane by lane, Inf and NaN included.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fp16x4(Vector128<int> raw)
    {
        var em = raw & Vector128.Create(0x7FFF);
        var shifted = Vector128.ShiftLeft(em, 13);
        var bits = (shifted.AsSingle() * Vector128.Create(WeightBits.TwoPow112)).AsInt32();
        var special = Vector128.GreaterThan(em, Vector128.Create(0x7BFF));
        bits = Vector128.ConditionalSelect(special, shifted | Vector128.Create(0x7F800000), bits);
        return (bits | Vector128.ShiftLeft(raw & Vector128.Create(0x8000), 16)).AsSingle();
    }

    /// <summary><see cref="Fp16x4"/> on eight values at once: the same lane-wise operations, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fp16x8(Vector256<int> raw)
    {
        var em = raw & Vector256.Create(0x7FFF);
        var shifted = Vector256.ShiftLeft(em, 13);
        var bits = (shifted.AsSingle() * Vector256.Create(WeightBits.TwoPow112)).AsInt32();
        var special = Vector256.GreaterThan(em, Vector256.Create(0x7BFF));
        bits = Vector256.ConditionalSelect(special, shifted | Vector256.Create(0x7F800000), bits);
        return (bits | Vector256.ShiftLeft(raw & Vector256.Create(0x8000), 16)).AsSingle();
    }

    /// <summary>The 32-bit words at <paramref name="offset"/> of the four rows (their low halves: the blocks' fp16 scales).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Words(byte* w0, byte* w1, byte* w2, byte* w3, nint offset)
        => Vector128.Create(
            Unsafe.ReadUnaligned<int>(w0 + offset), Unsafe.ReadUnaligned<int>(w1 + offset),
            Unsafe.ReadUnaligned<int>(w2 + offset), Unsafe.ReadUnaligned<int>(w3 + offset));

    /// <summary>The first 32-bit word of each 128-bit lane (row i's in element i): a block's leading scales without reloading them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> FirstWords(Vector512<byte> lanes)
        => Avx512F.PermuteVar16x32(lanes.AsInt32(), Vector512.Create(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower().GetLower();

    /// <summary>The 16 bytes at <paramref name="offset"/> of each row, row i in 128-bit lane i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Load16(byte* w0, byte* w1, byte* w2, byte* w3, nint offset)
        => Vector512.Create(
            Vector256.Create(Vector128.Load(w0 + offset), Vector128.Load(w1 + offset)),
            Vector256.Create(Vector128.Load(w2 + offset), Vector128.Load(w3 + offset)));

    /// <summary>Row i's scale in lanes 4i..4i+3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Spread(Vector128<float> perRow)
        => Avx512F.PermuteVar16x32(perRow.ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));

    /// <summary><paramref name="v"/> in every 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> EveryLane<T>(Vector128<T> v)
    {
        var twice = Vector256.Create(v, v);
        return Vector512.Create(twice, twice);
    }

    /// <summary>
    /// Int8 scale byte <paramref name="s"/> (0..15) of each lane, sign-extended into all eight int16 of
    /// the lane. <paramref name="even"/>/<paramref name="odd"/>: the lanes' even and odd bytes already
    /// sign-extended to int16 (<see cref="SignExtendEven"/>, <see cref="SignExtendOdd"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> ScaleOf(Vector512<short> even, Vector512<short> odd, int s)
    {
        int e = s >> 1;
        var pick = Vector512.Create((short)(2 * e | (2 * e + 1) << 8)).AsSByte();
        return Avx512BW.Shuffle(((s & 1) == 0 ? even : odd).AsSByte(), pick).AsInt16();
    }

    /// <summary>Bytes 0, 2, …, 14 of each lane as int16, sign-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> SignExtendEven(Vector512<sbyte> bytes)
        => Vector512.ShiftRightArithmetic(Vector512.ShiftLeft(bytes.AsInt16(), 8), 8);

    /// <summary>Bytes 1, 3, …, 15 of each lane as int16, sign-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> SignExtendOdd(Vector512<sbyte> bytes) => Vector512.ShiftRightArithmetic(bytes.AsInt16(), 8);

    /// <summary>
    /// Σ_s f_s·S_s per row in four int32 lanes: f = sixteen int8 factors per lane (a k-quant's
    /// sub-block mins or scales), S = the activations' sixteen 16-value sums of the super-block.
    /// Lane l of a row gets f_{2l}S_{2l} + f_{2l+1}S_{2l+1} + f_{8+2l}S_{8+2l} + f_{9+2l}S_{9+2l}.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> FactorSums(Vector512<sbyte> factors, int* sums)
    {
        // Bytes 0..7 and 8..15 of each lane, sign-extended to int16 (byte in the high half, then >> 8).
        var lowPick = EveryLane(Vector128.Create((byte)0x80, 0, 0x80, 1, 0x80, 2, 0x80, 3, 0x80, 4, 0x80, 5, 0x80, 6, 0x80, 7)).AsSByte();
        var highPick = EveryLane(Vector128.Create((byte)0x80, 8, 0x80, 9, 0x80, 10, 0x80, 11, 0x80, 12, 0x80, 13, 0x80, 14, 0x80, 15)).AsSByte();
        var f0 = Vector512.ShiftRightArithmetic(Avx512BW.Shuffle(factors, lowPick).AsInt16(), 8);
        var f1 = Vector512.ShiftRightArithmetic(Avx512BW.Shuffle(factors, highPick).AsInt16(), 8);
        var s16 = Avx512F.ConvertToVector256Int16(Vector512.Load(sums));
        return Avx512BW.MultiplyAddAdjacent(f0, EveryLane(s16.GetLower())) + Avx512BW.MultiplyAddAdjacent(f1, EveryLane(s16.GetUpper()));
    }

    /// <summary>The 16 bytes at <paramref name="p"/> in every 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<sbyte> Broadcast16(sbyte* p) => Avx512F.BroadcastVector128ToVector512((int*)p).AsSByte();

    /// <summary>The 16 bytes at <paramref name="p"/> in every 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Broadcast16(byte* p) => Avx512F.BroadcastVector128ToVector512((int*)p).AsByte();

    /// <summary>
    /// Σ of u8×s8 products per group of four bytes (int32 lanes) of two operand pairs, through
    /// int16 pair sums: callers keep |u·s| pair sums of both pairs together below 32768.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> U8S8Twice(Vector512<byte> u0, Vector512<sbyte> s0, Vector512<byte> u1, Vector512<sbyte> s1)
        => Avx512BW.MultiplyAddAdjacent(
            Avx512BW.MultiplyAddAdjacent(u0, s0) + Avx512BW.MultiplyAddAdjacent(u1, s1), Vector512<short>.One);

    /// <summary>
    /// Software prefetch of the next quad: four consecutive rows are one contiguous region, and a
    /// quad kernel that has reached byte <paramref name="offset"/> of each row has consumed the same
    /// fraction of that region, so it prefetches the matching quarter-block-per-row slice
    /// [4·offset, 4·(offset + blockBytes)) of the region at <paramref name="next"/>. Without it,
    /// four short streams that each end after one row defeat the hardware prefetcher once the
    /// weights come from DRAM (measured: 9–12 GB/s instead of 20+). Prefetches never fault, so
    /// a <paramref name="next"/> past the tensor's end is harmless.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchNext(byte* next, nint offset, int blockBytes)
    {
        byte* end = next + 4 * (offset + blockBytes);
        for (byte* p = (byte*)((nint)(next + 4 * offset) & ~63); p < end; p += 64) Sse.Prefetch0(p);
    }

    /// <summary>results[i] = ((l0 + l2) + (l1 + l3)) of row i's four lanes, in this fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Sum(Vector512<float> acc, float* results)
    {
        var t = acc + Avx512F.Permute4x32(acc, 0b01_00_11_10);
        t += Avx512F.Permute4x32(t, 0b10_11_00_01);
        results[0] = t.ToScalar();
        results[1] = t.GetElement(4);
        results[2] = t.GetElement(8);
        results[3] = t.GetElement(12);
    }
}
