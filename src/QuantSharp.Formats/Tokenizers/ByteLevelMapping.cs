// GPT-2's reversible byte <-> printable-unicode mapping used by byte-level BPE vocabularies.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// The byte-to-character table of GPT-2's <c>bytes_to_unicode()</c> (also used by HF tokenizers'
/// ByteLevel pre-tokenizer and decoder): printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100.. in byte order, so every byte string becomes a printable string without spaces.
/// </summary>
public static class ByteLevelMapping
{
    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly short[] CharToByteTable = BuildCharToByte(ByteToCharTable);

    /// <summary>The character that stands for byte <paramref name="b"/>.</summary>
    public static char ByteToChar(byte b) => ByteToCharTable[b];

    /// <summary>The byte a mapped character stands for, or -1 when the character is not part of the mapping.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    /// <summary>Maps a byte string to its printable form (e.g. " the" → "Ġthe").</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) dst[i] = ByteToCharTable[src[i]];
        });
    }

    /// <summary>
    /// Maps a printable token back to bytes; false when some character is outside the mapping (HF's
    /// ByteLevel decoder then falls back to the token's own UTF-8 bytes).
    /// </summary>
    public static bool TryDecode(string token, List<byte> output)
    {
        int start = output.Count;
        foreach (char c in token)
        {
            int b = CharToByte(c);
            if (b < 0)
            {
                output.RemoveRange(start, output.Count - start);
                return false;
            }
            output.Add((byte)b);
        }
        return true;
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var direct = new bool[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            table[b] = direct[b] ? (char)b : (char)(256 + n++);
        }
        return table;
    }

    private static short[] BuildCharToByte(char[] byteToChar)
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[byteToChar[b]] = (short)b;
        return table;
    }
}
