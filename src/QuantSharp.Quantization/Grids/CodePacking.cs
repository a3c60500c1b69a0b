// Packs n-bit codes (1–8 bits) into bytes as a little-endian LSB-first bit stream, and back.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// Bit packing for grid codes. Code i occupies bits [i·b, (i + 1)·b) of the stream, bit k of the
/// stream being bit k mod 8 of byte k / 8. For b = 4 that puts element 2j in the low nibble of byte j
/// (the order of E2M1 pairs in MX/OCP tooling); for b = 2, 4, 8 read as little-endian int32 words it
/// is AutoGPTQ's qweight packing along a row, and for b = 3 its word-straddling layout too.
/// </summary>
public static class CodePacking
{
    /// <summary>Bytes needed for <paramref name="count"/> codes of <paramref name="bits"/> bits.</summary>
    public static int PackedLength(int count, int bits)
    {
        CheckBits(bits);
        return checked((int)(((long)count * bits + 7) / 8));
    }

    /// <summary>Packs <paramref name="codes"/> (each below 2^<paramref name="bits"/>) into <paramref name="destination"/>.</summary>
    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<byte> destination)
    {
        int length = PackedLength(codes.Length, bits);
        if (destination.Length < length)
            throw new ArgumentException($"{codes.Length} codes of {bits} bits need {length} bytes, the destination has {destination.Length}", nameof(destination));
        int limit = 1 << bits;
        destination[..length].Clear();
        long bit = 0;
        for (int i = 0; i < codes.Length; i++, bit += bits)
        {
            int c = codes[i];
            if (c >= limit) throw new ArgumentException($"code {i} is {c}, not a {bits}-bit value", nameof(codes));
            int byteIndex = (int)(bit >> 3), shift = (int)(bit & 7);
            int v = c << shift; // at most 15 bits: spans two bytes at most
            destination[byteIndex] |= (byte)v;
            if (shift + bits > 8) destination[byteIndex + 1] |= (byte)(v >> 8);
        }
    }

    /// <summary>Unpacks <paramref name="destination"/>.Length codes of <paramref name="bits"/> bits from <paramref name="packed"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> destination)
    {
        int length = PackedLength(destination.Length, bits);
        if (packed.Length < length)
            throw new ArgumentException($"{destination.Length} codes of {bits} bits need {length} packed bytes, got {packed.Length}", nameof(packed));
        int mask = (1 << bits) - 1;
        long bit = 0;
        for (int i = 0; i < destination.Length; i++, bit += bits)
        {
            int byteIndex = (int)(bit >> 3), shift = (int)(bit & 7);
            int v = packed[byteIndex];
            if (shift + bits > 8) v |= packed[byteIndex + 1] << 8;
            destination[i] = (byte)((v >> shift) & mask);
        }
    }

    private static void CheckBits(int bits)
    {
        if (bits is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "codes are 1–8 bits");
    }
}
