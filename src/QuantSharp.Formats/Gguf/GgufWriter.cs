// Writes GGUF v3 files: metadata, tensor infos, aligned tensor data streamed from callbacks, atomically.
using QuantSharp.Core.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Builds a GGUF v3 file. Declare metadata and tensors first (<see cref="AddTensor(string, GgmlType, long[], Action{Stream})"/>),
/// then <see cref="WriteFile"/>. Tensor data is pulled from callbacks in declaration order while
/// writing, so a quantizer can produce one layer at a time without holding the model in memory.
/// The same declarations always give the same bytes.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>ggml stores names in a 64-byte buffer including the terminator.</summary>
    public const int MaxTensorNameBytes = 63;

    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Creates a writer around <paramref name="metadata"/> (a fresh empty set when null).</summary>
    public GgufWriter(GgufMetadata? metadata = null) => Metadata = metadata ?? new GgufMetadata("GGUF writer");

    /// <summary>The metadata that will be written, in its key order. May be changed until writing.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>Tensors declared so far, in write order (offsets relative to the data section).</summary>
    public IReadOnlyList<(string Name, GgmlType Type, long[] Shape, long ByteSize)> Tensors
        => _tensors.Select(t => (t.Name, t.Type, t.Shape, t.ByteSize)).ToArray();

    /// <summary>
    /// Declares a tensor whose <paramref name="writeData"/> callback will write exactly its byte size
    /// into the stream it is given (the stream does not seek; writing more or fewer bytes is an error).
    /// </summary>
    /// <param name="name">Tensor name, unique, at most 63 UTF-8 bytes.</param>
    /// <param name="type">Storage type.</param>
    /// <param name="shape">Shape outermost-first (PyTorch order); stored reversed as GGUF ne.</param>
    /// <param name="writeData">Writes the tensor's bytes.</param>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(writeData);
        if (name.Length == 0) throw new ArgumentException("tensor name is empty", nameof(name));
        if (Encoding.UTF8.GetByteCount(name) > MaxTensorNameBytes)
            throw new ArgumentException($"tensor name '{name}' is longer than {MaxTensorNameBytes} UTF-8 bytes, which ggml cannot load", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' is declared twice", nameof(name));
        if (shape.Length is < 1 or > GgufFile.MaxDimensions)
        {
            _names.Remove(name);
            throw new ArgumentException($"tensor '{name}' has {shape.Length} dimensions; GGUF allows 1 to {GgufFile.MaxDimensions}", nameof(shape));
        }
        long size;
        try
        {
            if (shape.Any(d => d <= 0)) throw new ArgumentException($"tensor '{name}' has a non-positive dimension in [{string.Join(", ", shape)}]", nameof(shape));
            var ne = shape.Reverse().ToArray();
            size = GgmlTypeInfo.Of(type).TensorByteSize(ne);
        }
        catch
        {
            _names.Remove(name);
            throw;
        }
        _tensors.Add(new PendingTensor(name, type, (long[])shape.Clone(), size, writeData));
        return this;
    }

    /// <summary>Declares a tensor from bytes already in memory (kept by reference until writing).</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, ReadOnlyMemory<byte> data)
        => AddTensor(name, type, shape, s => s.Write(data.Span));

    /// <summary>Declares an F32 tensor from values in memory.</summary>
    public GgufWriter AddTensor(string name, long[] shape, float[] values)
        => AddTensor(name, GgmlType.F32, shape, s => s.Write(MemoryMarshal.AsBytes(values.AsSpan())));

    /// <summary>
    /// Writes the file to <paramref name="outputPath"/> through a temporary file in the same folder
    /// that is renamed into place only when everything succeeded, and deleted otherwise.
    /// </summary>
    /// <param name="outputPath">Destination; an existing file there is replaced.</param>
    /// <param name="protectedPaths">Files that must never be overwritten (the inputs of a conversion).</param>
    /// <param name="cancellationToken">Checked between tensors and during long data writes.</param>
    public void WriteFile(string outputPath, IEnumerable<string>? protectedPaths = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        AtomicFile.Write(outputPath, protectedPaths, fs => WriteTo(fs, cancellationToken), cancellationToken: cancellationToken);
    }

    /// <summary>Writes the whole file to <paramref name="stream"/> (which need not seek).</summary>
    public void WriteTo(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        int alignment = ResolveAlignment();
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        long written = 0;

        void Bytes(ReadOnlySpan<byte> b) { w.Write(b); written += b.Length; }
        void U32(uint v) { w.Write(v); written += 4; }
        void U64(ulong v) { w.Write(v); written += 8; }
        void Str(string s) { var b = Encoding.UTF8.GetBytes(s); U64((ulong)b.Length); Bytes(b); }
        void Pad()
        {
            int pad = (int)(GgufFile.AlignUp(written, alignment) - written);
            Span<byte> zeros = stackalloc byte[Math.Min(pad, 256)];
            zeros.Clear();
            while (pad > 0) { int n = Math.Min(pad, zeros.Length); Bytes(zeros[..n]); pad -= n; }
        }

        void Value(GgufValue v)
        {
            switch (v.Value)
            {
                case byte x: Bytes([x]); break;
                case sbyte x: Bytes([(byte)x]); break;
                case ushort x: w.Write(x); written += 2; break;
                case short x: w.Write(x); written += 2; break;
                case uint x: U32(x); break;
                case int x: U32((uint)x); break;
                case float x: w.Write(x); written += 4; break;
                case bool x: Bytes([x ? (byte)1 : (byte)0]); break;
                case string x: Str(x); break;
                case ulong x: U64(x); break;
                case long x: U64((ulong)x); break;
                case double x: w.Write(x); written += 8; break;
                case GgufArray a: Array(a); break;
                default: throw new InvalidOperationException($"unexpected metadata value {v}");
            }
        }

        void Array(GgufArray a)
        {
            U32((uint)a.ElementType);
            U64((ulong)a.Count);
            switch (a.Items)
            {
                case string[] s: foreach (var x in s) Str(x); break;
                case GgufArray[] nested: foreach (var x in nested) Array(x); break;
                case bool[] b: foreach (var x in b) Bytes([x ? (byte)1 : (byte)0]); break;
                case byte[] b: Bytes(b); break;
                case sbyte[] b: Bytes(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case ushort[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case short[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case uint[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case int[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case float[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case ulong[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case long[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                case double[] b: LittleEndian(MemoryMarshal.AsBytes(b.AsSpan())); break;
                default: throw new InvalidOperationException($"unexpected array storage {a.Items.GetType().Name}");
            }
        }

        // GGUF is little-endian; every platform .NET runs this project on is too.
        void LittleEndian(ReadOnlySpan<byte> b)
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GGUF writing needs a little-endian machine");
            Bytes(b);
        }

        U32(GgufFile.Magic);
        U32(3);
        U64((ulong)_tensors.Count);
        U64((ulong)Metadata.Count);
        foreach (var (key, value) in Metadata.Entries)
        {
            Str(key);
            U32((uint)value.Type);
            Value(value);
        }

        long offset = 0;
        foreach (var t in _tensors)
        {
            Str(t.Name);
            U32((uint)t.Shape.Length);
            for (int d = t.Shape.Length - 1; d >= 0; d--) U64((ulong)t.Shape[d]);
            U32((uint)t.Type);
            U64((ulong)offset);
            offset = GgufFile.AlignUp(offset + t.ByteSize, alignment);
        }
        Pad();
        w.Flush();

        foreach (var t in _tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var counting = new BoundedWriteStream(stream, t.Name, t.ByteSize, cancellationToken);
            t.WriteData(counting);
            if (counting.Written != t.ByteSize)
                throw new InvalidOperationException($"tensor '{t.Name}': the data callback wrote {counting.Written} bytes, expected {t.ByteSize}");
            written += t.ByteSize;
            // Every tensor is padded, the last one too, as llama.cpp's writer does: its reader
            // expects the data section to be a whole number of aligned blocks.
            Pad();
            w.Flush();
        }
    }

    private int ResolveAlignment()
    {
        if (!Metadata.TryGetValue(GgufFile.AlignmentKey, out var v)) return GgufFile.DefaultAlignment;
        if (v.Value is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 30)
            throw new InvalidOperationException($"metadata key '{GgufFile.AlignmentKey}' must be a UInt32 power of two, got {v}");
        return (int)a;
    }

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Shape, long ByteSize, Action<Stream> WriteData);
}
