// A bounds-checked forward reader over a mapped GGUF file; every failure names the file and the item.
using System.Buffers.Binary;
using System.Text;
using QuantSharp.Core.IO;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Where in a GGUF file a value lies ("metadata key 'x'[3][7]"), formatted only when an error
/// message needs it. Building such strings eagerly for every element of an array made reading
/// quadratic (a long key times a long array) and multiplied a long key's bytes in memory.
/// </summary>
internal sealed class GgufContext
{
    // Keys and names quoted in messages are cut to this many characters: enough to recognise them,
    // and a hostile multi-megabyte key cannot make a message that size.
    private const int MaxQuoted = 200;

    private readonly string? _text;
    private readonly string? _quoted;
    private readonly GgufContext? _parent;
    private readonly long _index;

    private GgufContext(string? text, string? quoted, GgufContext? parent, long index)
        => (_text, _quoted, _parent, _index) = (text, quoted, parent, index);

    /// <summary>A fixed description ("the tensor count").</summary>
    public static GgufContext Of(string text) => new(text, null, null, -1);

    /// <summary><paramref name="prefix"/> followed by a quoted, clipped name ("metadata key 'x'").</summary>
    public static GgufContext Quoted(string prefix, string name) => new(prefix, name, null, -1);

    /// <summary>Element <paramref name="index"/> of this value.</summary>
    public GgufContext Item(long index) => new(null, null, this, index);

    /// <summary>A description that refers to this one ("the length of " + this).</summary>
    public GgufContext Prefixed(string prefix) => new(prefix, null, this, -2);

    /// <summary>Cuts <paramref name="s"/> for quoting in a message.</summary>
    public static string Clip(string s) => s.Length <= MaxQuoted ? s : $"{s[..MaxQuoted]}… ({s.Length} characters)";

    public override string ToString()
    {
        if (_parent is null) return _quoted is null ? _text! : $"{_text}'{Clip(_quoted)}'";
        return _index == -2 ? $"{_text}{_parent}" : $"{_parent}[{_index}]";
    }
}

/// <summary>
/// Reads little-endian GGUF primitives from a <see cref="MappedFile"/>. Lengths read from the
/// file are checked against the bytes that remain before anything is allocated, so a hostile
/// length can never cause a huge allocation. Descriptions of what is read are
/// <see cref="GgufContext"/>s (or plain strings) turned into text only for an error.
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

    private ReadOnlySpan<byte> Take(int n, object what)
    {
        if (Remaining < n) throw Ends(n, what);
        var span = new ReadOnlySpan<byte>(_file.Base + Position, n);
        Position += n;
        return span;
    }

    private InvalidDataException Ends(long n, object what)
        => Error($"file ends at byte {_file.Length} while reading {what} ({n} bytes needed at offset {Position})");

    public byte U8(object what) => Take(1, what)[0];
    public ushort U16(object what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(object what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(object what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    public float F32(object what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));
    public double F64(object what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    public bool Bool(object what)
    {
        byte b = U8(what);
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw Error($"{what} is a bool stored as {b}; only 0 and 1 are valid"),
        };
    }

    /// <summary>
    /// A uint64-length-prefixed UTF-8 string (invalid sequences become U+FFFD). The length is checked
    /// against the bytes left in the file before anything is allocated, so a string costs at most
    /// twice the bytes it really occupies.
    /// </summary>
    public string String(object what)
    {
        if (Remaining < 8) throw Ends(8, what is GgufContext g ? g.Prefixed("the length of ") : $"the length of {what}");
        ulong len = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_file.Base + Position, 8));
        Position += 8;
        if (len > (ulong)Remaining)
            throw Error($"{what} claims {len} bytes but only {Remaining} remain after offset {Position}");
        return Encoding.UTF8.GetString(Take((int)Math.Min(len, int.MaxValue), what));
    }

    /// <summary>
    /// Checks that <paramref name="count"/> items of at least <paramref name="minItemBytes"/> bytes
    /// each can fit in the rest of the file, and returns the count as an int.
    /// </summary>
    public int CheckCount(ulong count, int minItemBytes, object what)
    {
        if (count > int.MaxValue || count * (ulong)minItemBytes > (ulong)Remaining)
            throw Error($"{what} claims {count} items of at least {minItemBytes} bytes, but only {Remaining} bytes remain after offset {Position}");
        return (int)count;
    }

    public void Seek(long position) => Position = position;
}
