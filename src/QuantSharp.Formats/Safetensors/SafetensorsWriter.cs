// Writes safetensors files: JSON header with every tensor's offsets, then data streamed from callbacks, atomically.
using QuantSharp.Core.IO;
using System.Text;
using System.Text.Json;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Formats.Safetensors;

/// <summary>
/// Builds a safetensors file (8-byte little-endian header length, a JSON header padded with spaces
/// to a multiple of 8 bytes, then the tensors' bytes back to back in declaration order). Tensors
/// are declared with their dtype and shape first, so the header is complete before any data; the
/// data is pulled from callbacks in order while writing, so a quantizer can produce one layer at a
/// time. The file is written under a temporary name and renamed only when complete; every callback
/// must write exactly its tensor's size. The same declarations always give the same bytes.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, DType DType, long[] Shape, long Bytes, Action<Stream> Write)> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>String metadata written under "__metadata__" (e.g. {"format": "pt"}).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Tensors declared so far.</summary>
    public int Count => _tensors.Count;

    /// <summary>The dtype names safetensors uses.</summary>
    public static string DTypeName(DType t) => t switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.F64 => "F64",
        DType.I8 => "I8",
        DType.I16 => "I16",
        DType.I32 => "I32",
        DType.I64 => "I64",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
        _ => throw new NotSupportedException($"{t} cannot be stored in safetensors"),
    };

    /// <summary>Declares a tensor whose <paramref name="writeData"/> writes exactly its bytes (elements × dtype size).</summary>
    public SafetensorsWriter AddTensor(string name, DType dtype, long[] shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(writeData);
        if (name.Length == 0) throw new ArgumentException("tensor name is empty", nameof(name));
        if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved in safetensors", nameof(name));
        _ = DTypeName(dtype);
        if (shape.Any(d => d < 0)) throw new ArgumentException($"tensor '{name}': negative dimension in [{string.Join(", ", shape)}]", nameof(shape));
        long elements = 1;
        foreach (var d in shape) elements = checked(elements * d);
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' is declared twice", nameof(name));
        _tensors.Add((name, dtype, (long[])shape.Clone(), checked(elements * DTypeInfo.SizeOf(dtype)), writeData));
        return this;
    }

    /// <summary>Declares a tensor from bytes in memory.</summary>
    public SafetensorsWriter AddTensor(string name, DType dtype, long[] shape, ReadOnlyMemory<byte> data)
        => AddTensor(name, dtype, shape, s => s.Write(data.Span));

    /// <summary>The JSON header (without length prefix and padding).</summary>
    public byte[] HeaderJson()
    {
        using var ms = new MemoryStream();
        using (var j = new Utf8JsonWriter(ms))
        {
            j.WriteStartObject();
            if (Metadata.Count > 0)
            {
                j.WriteStartObject("__metadata__");
                foreach (var (k, v) in Metadata.OrderBy(e => e.Key, StringComparer.Ordinal)) j.WriteString(k, v);
                j.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                j.WriteStartObject(t.Name);
                j.WriteString("dtype", DTypeName(t.DType));
                j.WriteStartArray("shape");
                foreach (var d in t.Shape) j.WriteNumberValue(d);
                j.WriteEndArray();
                j.WriteStartArray("data_offsets");
                j.WriteNumberValue(offset);
                j.WriteNumberValue(offset + t.Bytes);
                j.WriteEndArray();
                j.WriteEndObject();
                offset += t.Bytes;
            }
            j.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Writes the whole file to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream, CancellationToken cancellationToken = default)
    {
        var header = HeaderJson();
        int padded = (header.Length + 7) / 8 * 8;
        Span<byte> len = stackalloc byte[8];
        BitConverter.TryWriteBytes(len, (ulong)padded);
        stream.Write(len);
        stream.Write(header);
        for (int i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var t in _tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var counting = new BoundedWriteStream(stream, t.Name, t.Bytes, cancellationToken);
            t.Write(counting);
            if (counting.Written != t.Bytes)
                throw new InvalidOperationException($"tensor '{t.Name}': the data callback wrote {counting.Written} bytes, expected {t.Bytes}");
        }
    }

    /// <summary>
    /// Writes to <paramref name="outputPath"/> through a temporary file in the same folder, renamed
    /// into place only when complete and deleted otherwise.
    /// </summary>
    /// <param name="outputPath">Destination; an existing file there is replaced.</param>
    /// <param name="protectedPaths">Files that must never be overwritten (the inputs).</param>
    /// <param name="cancellationToken">Checked between tensors and during long writes.</param>
    public void WriteFile(string outputPath, IEnumerable<string>? protectedPaths = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        AtomicFile.Write(outputPath, protectedPaths, fs => WriteTo(fs, cancellationToken), cancellationToken: cancellationToken);
    }
}
