// A bounds-checked forward reader over a mapped GGUF file; every failure names the file and the item.
using System.Buffers.Binary;
using System.Text;
using QuantSharp.Core.IO;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Reads little-endian GGUF primitives from a <see cref="MappedFile"/>. Lengths read from the
/// file are checked against the bytes that remain before anything is allocated, so a hostile
/// length can never cause a huge allocation.
/// </summary>
internal sealed unsafe class GgufCursor(MappedFile file)
{
    private readonly MappedFile _file = file;

    /// <summary>Current absolute offset.</summary>
    public long Position { get; private set; }

    /// <summary>Bytes between the position and the end of the file.</summary>
    public long Remaining => _file.Length - Position;

    public string Path => _file.Path;

    public InvalidDataException Error(string message) => new($"{_file.Path}: {message}");

    private ReadOnlySpan<byte> Take(int n, string what)
    {
        if (Remaining < n)
            throw Error($"file ends at byte {_file.Length} while reading {what} ({n} bytes needed at offset {Position})");
        var span = new ReadOnlySpan<byte>(_file.Base + Position, n);
        Position += n;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    public float F32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));
    public double F64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    public bool Bool(string what)
    {
        byte b = U8(what);
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw Error($"{what} is a bool stored as {b}; only 0 and 1 are valid"),
        };
    }

    /// <summary>A uint64-length-prefixed UTF-8 string (invalid sequences become U+FFFD).</summary>
    public string String(string what)
    {
        ulong len = U64($"the length of {what}");
        if (len > (ulong)Remaining)
            throw Error($"{what} claims {len} bytes but only {Remaining} remain after offset {Position}");
        return Encoding.UTF8.GetString(Take((int)Math.Min(len, int.MaxValue), what));
    }

    /// <summary>
    /// Checks that <paramref name="count"/> items of at least <paramref name="minItemBytes"/> bytes
    /// each can fit in the rest of the file, and returns the count as an int.
    /// </summary>
    public int CheckCount(ulong count, int minItemBytes, string what)
    {
        if (count > int.MaxValue || count * (ulong)minItemBytes > (ulong)Remaining)
            throw Error($"{what} claims {count} items of at least {minItemBytes} bytes, but only {Remaining} bytes remain after offset {Position}");
        return (int)count;
    }

    public void Seek(long position) => Position = position;
}
