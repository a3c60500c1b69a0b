// Reader for one .safetensors file: 8-byte header length, JSON header, raw little-endian tensor data.
using System.Text.Json;
using QuantSharp.Core.IO;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats.Safetensors;

/// <summary>
/// One safetensors file, memory-mapped. Every header entry is checked against the file before any
/// view is handed out: dtype known, shape non-negative and consistent with the byte range, the byte
/// range inside the data section.
/// </summary>
public sealed class SafetensorsFile : IWeightSource
{
    /// <summary>Largest header accepted; real headers are a few hundred KiB at most.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MappedFile _file;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();
    private readonly long _dataStart;

    private readonly record struct Entry(DType DType, long[] Shape, long Begin, long End);

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    public SafetensorsFile(string path)
    {
        _file = new MappedFile(path);
        try
        {
            (_dataStart, Metadata) = ParseHeader();
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string Origin => _file.Path;

    /// <summary>The optional "__metadata__" string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <inheritdoc/>
    public unsafe TensorView Get(string name)
    {
        if (!_entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");
        long length = e.End - e.Begin;
        _file.ThrowIfChanged();
        return new TensorView(name, e.DType, e.Shape, _file.At(_dataStart + e.Begin, length, $"tensor '{name}'"), length);
    }

    private (long, IReadOnlyDictionary<string, string>) ParseHeader()
    {
        string path = _file.Path;
        if (_file.Length < 8) throw new InvalidDataException($"{path}: {_file.Length} bytes is too short for a safetensors file (needs an 8-byte header length)");
        ulong headerLen = BitConverter.ToUInt64(_file.Span(0, 8, "header length"));
        if (headerLen > (ulong)(_file.Length - 8))
            throw new InvalidDataException($"{path}: header length {headerLen} exceeds the file ({_file.Length} bytes): truncated or not a safetensors file");
        if (headerLen > MaxHeaderBytes)
            throw new InvalidDataException($"{path}: header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit");
        long dataStart = 8 + (long)headerLen;
        long dataLength = _file.Length - dataStart;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);

        // Strict: invalid UTF-8 in a tensor name or duplicate keys are errors naming the file, not
        // InvalidOperationException later or a silent choice between two entries.
        var doc = StrictJson.Parse($"{path}: header", _file.Span(8, (int)headerLen, "header").ToArray(), maxDepth: 16);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: header must be a JSON object");
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: __metadata__ must be an object");
                    // The format says string → string; other kinds are kept as their JSON text.
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                var entry = ParseEntry(path, prop.Name, prop.Value, dataLength);
                if (_entries.ContainsKey(prop.Name)) throw new InvalidDataException($"{path}: tensor '{prop.Name}' appears twice");
                _entries[prop.Name] = entry;
                _names.Add(prop.Name);
                ranges.Add((entry.Begin, entry.End, prop.Name));
            }
            // Sorted by start, each range is checked against the furthest end seen so far, not only its
            // neighbour: an empty tensor between two overlapping ones must not hide the overlap.
            ranges.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long maxEnd = 0;
            string? maxEndName = null;
            foreach (var r in ranges)
            {
                if (r.End == r.Begin) continue; // an empty tensor shares no bytes with anything
                if (maxEndName != null && r.Begin < maxEnd)
                    throw new InvalidDataException($"{path}: tensors '{maxEndName}' (ending at data byte {maxEnd}) and '{r.Name}' (starting at {r.Begin}) overlap");
                if (r.End > maxEnd) (maxEnd, maxEndName) = (r.End, r.Name);
            }
        }
        return (dataStart, metadata);
    }

    private static Entry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where}: entry must be an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{where}: missing string 'dtype'");
        DType dtype = dt.GetString() switch
        {
            "F32" => DType.F32,
            "F16" => DType.F16,
            "BF16" => DType.BF16,
            "F64" => DType.F64,
            "I8" => DType.I8,
            "I16" => DType.I16,
            "I32" => DType.I32,
            "I64" => DType.I64,
            "U8" => DType.U8,
            "BOOL" => DType.Bool,
            var other => throw new InvalidDataException($"{where}: unsupported dtype '{other}' (expected F32, F16, BF16, F64, I8, I16, I32, I64, U8 or BOOL)"),
        };
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where}: missing array 'shape'");
        if (sh.GetArrayLength() > 8) throw new InvalidDataException($"{where}: {sh.GetArrayLength()} dimensions (at most 8 supported)");
        var shape = new long[sh.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new InvalidDataException($"{where}: shape entry {d.GetRawText()} is not a non-negative integer");
            shape[i++] = v;
            try { elements = checked(elements * v); }
            catch (OverflowException) { throw new InvalidDataException($"{where}: shape [{string.Join(", ", shape)}] overflows"); }
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{where}: missing 'data_offsets' [begin, end]");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{where}: data_offsets {off.GetRawText()} are not 0 ≤ begin ≤ end");
        if (end > dataLength)
            throw new InvalidDataException($"{where}: data_offsets end {end} lies beyond the data section ({dataLength} bytes): file truncated?");
        long expected;
        try { expected = checked(elements * DTypeInfo.SizeOf(dtype)); }
        catch (OverflowException) { throw new InvalidDataException($"{where}: size overflows"); }
        if (end - begin != expected)
            throw new InvalidDataException($"{where}: shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but data_offsets span {end - begin}");
        return new Entry(dtype, shape, begin, end);
    }

    /// <inheritdoc/>
    public void ThrowIfChanged() => _file.ThrowIfChanged();

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
