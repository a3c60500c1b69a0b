// A byte-level GGUF builder for hostile-file tests: writes whatever values it is told, valid or not.
using System.Text;

namespace QuantSharp.Tests.Gguf;

/// <summary>Appends little-endian GGUF fields with no validation, so tests can craft broken files.</summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _ms = new();
    private readonly BinaryWriter _w;

    public RawGguf() => _w = new BinaryWriter(_ms, Encoding.UTF8, leaveOpen: true);

    public RawGguf Header(uint magic = 0x46554747, uint version = 3, ulong tensors = 0, ulong kvs = 0)
    { _w.Write(magic); _w.Write(version); _w.Write(tensors); _w.Write(kvs); return this; }

    public RawGguf U8(byte v) { _w.Write(v); return this; }
    public RawGguf U32(uint v) { _w.Write(v); return this; }
    public RawGguf U64(ulong v) { _w.Write(v); return this; }

    public RawGguf Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        _w.Write((ulong)b.Length);
        _w.Write(b);
        return this;
    }

    /// <summary>A key with a uint32 value.</summary>
    public RawGguf KvU32(string key, uint value, uint type = 4) => Str(key).U32(type).U32(value);

    /// <summary>A tensor info; <paramref name="ne"/> is innermost-first as stored.</summary>
    public RawGguf Tensor(string name, uint type, ulong offset, params ulong[] ne)
    {
        Str(name).U32((uint)ne.Length);
        foreach (var d in ne) U64(d);
        return U32(type).U64(offset);
    }

    public RawGguf PadTo(int alignment)
    {
        while (_ms.Length % alignment != 0) _w.Write((byte)0);
        return this;
    }

    public RawGguf Zeros(int n) { _w.Write(new byte[n]); return this; }

    public byte[] ToArray() { _w.Flush(); return _ms.ToArray(); }

    public string Save(TempDirectory dir, string name = "raw.gguf")
    {
        var path = dir.File(name);
        File.WriteAllBytes(path, ToArray());
        return path;
    }
}
