// Reads and validates a GGUF file (v2 or v3), memory-mapped; serves its dense tensors as views.
using QuantSharp.Core.IO;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// An open GGUF file. Opening validates the whole header (magic, version, counts, metadata,
/// tensor infos, alignment, offsets) against the file size; any problem is an
/// <see cref="InvalidDataException"/> naming the file, the key or tensor and what was expected.
/// Tensor data is not copied: views point into the mapping and stay valid until disposal.
/// </summary>
public sealed unsafe class GgufFile : IWeightSource
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    /// <summary>Alignment of the data section and of every tensor when general.alignment is absent.</summary>
    public const int DefaultAlignment = 32;
    /// <summary>The metadata key that overrides the alignment.</summary>
    public const string AlignmentKey = "general.alignment";
    /// <summary>ggml tensors have at most four dimensions.</summary>
    public const int MaxDimensions = 4;

    // Smallest possible encodings, used to reject absurd counts before allocating for them:
    // a KV is key length (8) + one key byte + type (4) + a 1-byte value; a tensor info is name
    // length (8) + one name byte + n_dims (4) + type (4) + offset (8).
    private const int MinKvBytes = 8 + 1 + 4 + 1;
    private const int MinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;
    // Deeper nesting than this is not produced by any known writer; the limit keeps a hostile
    // file from exhausting the stack through recursion.
    private const int MaxArrayNesting = 8;

    private readonly MappedFile _file;
    private readonly Dictionary<string, GgufTensorInfo> _byName = new(StringComparer.Ordinal);

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    public GgufFile(string path)
    {
        _file = new MappedFile(path);
        try
        {
            var c = new GgufCursor(_file);
            uint magic = c.U32("the magic number");
            if (magic != Magic)
                throw c.Error($"not a GGUF file: magic is 0x{magic:x8}, expected 0x{Magic:x8} (\"GGUF\")");
            uint version = c.U32("the version");
            if (version is not (2 or 3))
            {
                if (version == 1) throw c.Error("GGUF version 1 is not supported (only 2 and 3)");
                if ((version & 0xffff) == 0 && version >> 16 is 2 or 3 or 0x200 or 0x300)
                    throw c.Error($"version field 0x{version:x8} looks big-endian; only little-endian GGUF is supported");
                throw c.Error($"unsupported GGUF version {version} (expected 2 or 3)");
            }
            Version = (int)version;

            ulong tensorCount = c.U64("the tensor count");
            ulong kvCount = c.U64("the metadata key/value count");
            if (tensorCount > int.MaxValue || kvCount > int.MaxValue
                || tensorCount * MinTensorInfoBytes + kvCount * MinKvBytes > (ulong)c.Remaining)
                throw c.Error($"header claims {tensorCount} tensors and {kvCount} metadata keys, which cannot fit in the remaining {c.Remaining} bytes");

            Metadata = new GgufMetadata(path);
            for (int i = 0; i < (int)kvCount; i++) ReadKeyValue(c, i);

            Alignment = DefaultAlignment;
            if (Metadata.TryGetValue(AlignmentKey, out var alignValue))
            {
                if (alignValue.Value is not uint a)
                    throw c.Error($"metadata key '{AlignmentKey}' should be UInt32 but is {alignValue.Type}");
                if (a == 0 || (a & (a - 1)) != 0 || a > 1 << 30)
                    throw c.Error($"metadata key '{AlignmentKey}' is {a}; expected a power of two");
                Alignment = (int)a;
            }

            var infos = new List<(string Name, GgmlType Type, long[] Ne, ulong Offset, long Size)>((int)tensorCount);
            for (int i = 0; i < (int)tensorCount; i++) infos.Add(ReadTensorInfo(c, i));

            long dataStart = AlignUp(c.Position, Alignment);
            DataOffset = dataStart;

            var tensors = new List<GgufTensorInfo>(infos.Count);
            foreach (var (name, type, ne, relOffset, size) in infos)
            {
                if (relOffset % (ulong)Alignment != 0)
                    throw c.Error($"tensor '{GgufContext.Clip(name)}': data offset {relOffset} is not a multiple of the alignment {Alignment}");
                if (relOffset > (ulong)_file.Length || dataStart + (long)relOffset > _file.Length - size)
                    throw c.Error($"tensor '{GgufContext.Clip(name)}': data [{dataStart} + {relOffset}, +{size} bytes) extends past the end of the file ({_file.Length} bytes)");
                var info = new GgufTensorInfo(name, type, ne, dataStart + (long)relOffset, size);
                if (!_byName.TryAdd(name, info)) throw c.Error($"tensor name '{GgufContext.Clip(name)}' appears twice");
                tensors.Add(info);
            }

            // Tensors may be stored in any order, but no two may share bytes.
            GgufTensorInfo? previous = null;
            foreach (var t in tensors.Where(t => t.ByteSize > 0).OrderBy(t => t.FileOffset))
            {
                if (previous != null && t.FileOffset < previous.FileOffset + previous.ByteSize)
                    throw c.Error($"tensor '{t.Name}' at offset {t.FileOffset} overlaps tensor '{previous.Name}' ending at {previous.FileOffset + previous.ByteSize}");
                previous = t;
            }

            Tensors = tensors;
            TensorNames = tensors.Select(t => t.Name).ToArray();
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>GGUF version of the file (2 or 3).</summary>
    public int Version { get; }

    /// <summary>All metadata, in file order.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>Alignment of the data section and tensor offsets.</summary>
    public int Alignment { get; }

    /// <summary>
    /// The file's length in bytes as opened (through any symbolic link: the Hugging Face cache's
    /// links have lengths of their own, so FileInfo(path).Length is not this).
    /// </summary>
    public long FileLength => _file.Length;

    /// <summary>Absolute offset where the data section starts.</summary>
    public long DataOffset { get; }

    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <inheritdoc/>
    public string Origin => _file.Path;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames { get; }

    /// <inheritdoc/>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The info of tensor <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> naming the file when absent.</summary>
    public GgufTensorInfo GetInfo(string name)
        => _byName.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");

    /// <summary>
    /// A view of a dense tensor (F32, F16, BF16, F64, I8–I64) with its shape outermost-first.
    /// Block-quantized tensors throw <see cref="NotSupportedException"/>; read them with <see cref="GetRawBytes"/>.
    /// </summary>
    public TensorView Get(string name)
    {
        var info = GetInfo(name);
        var dtype = GgmlTypeInfo.Of(info.Type).CoreType
            ?? throw new NotSupportedException($"{Origin}: tensor '{name}' is {info.Type}, a block-quantized type; use GetRawBytes");
        _file.ThrowIfChanged();
        return new TensorView(name, dtype, info.Shape, _file.At(info.FileOffset, info.ByteSize, $"tensor '{name}'"), info.ByteSize);
    }

    /// <summary>Address of a tensor's bytes (any type), valid until disposal.</summary>
    public byte* GetRawPointer(string name)
    {
        var info = GetInfo(name);
        _file.ThrowIfChanged();
        return _file.At(info.FileOffset, info.ByteSize, $"tensor '{name}'");
    }

    /// <summary>A tensor's stored bytes, whatever its type (tensors must be below 2 GiB).</summary>
    public ReadOnlySpan<byte> GetRawBytes(string name)
    {
        var info = GetInfo(name);
        if (info.ByteSize > int.MaxValue)
            throw new NotSupportedException($"{Origin}: tensor '{name}' has {info.ByteSize} bytes, too many for a span; use GetRawPointer");
        return new ReadOnlySpan<byte>(GetRawPointer(name), (int)info.ByteSize);
    }

    /// <summary>
    /// Load-time check of a block-quantized tensor: throws <see cref="InvalidDataException"/> naming the
    /// file, the tensor, the row and the block when a scale field (fp16 d/dmin, Q8_K's fp32 d, MXFP4's
    /// exponent) is Inf or NaN, which would make its weights Inf/NaN. Reads only the scale bytes; dense
    /// and unknown types pass (use <see cref="FiniteCheck"/> for dense ones). Tensors of any size.
    /// </summary>
    public void ThrowIfNonFiniteScales(string name)
    {
        var info = GetInfo(name);
        if (GgmlTypeInfo.Of(info.Type).CoreType is not { } type || !BlockScaleCheck.Knows(type)) return;
        int blockBytes = DTypeInfo.BlockBytes(type);
        long blocksPerRow = info.Dimensions[0] / DTypeInfo.BlockSize(type);
        long totalBlocks = info.ByteSize / blockBytes;
        byte* p = GetRawPointer(name);
        // Spans are limited to 2 GiB: walk big tensors in chunks of whole blocks.
        long chunkBlocks = (1L << 30) / blockBytes;
        for (long first = 0; first < totalBlocks; first += chunkBlocks)
        {
            long n = Math.Min(chunkBlocks, totalBlocks - first);
            var span = new ReadOnlySpan<byte>(p + first * blockBytes, (int)(n * blockBytes));
            var (index, _, _) = BlockScaleCheck.FirstNonFinite(type, span);
            if (index < 0) continue;
            long at = first + index;
            BlockScaleCheck.ThrowIfNonFinite(type, span.Slice((int)(index * blockBytes), blockBytes),
                $"{Origin}: tensor '{GgufContext.Clip(name)}', row {at / blocksPerRow}, block {at % blocksPerRow}");
        }
    }

    /// <inheritdoc/>
    public void ThrowIfChanged() => _file.ThrowIfChanged();

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();

    internal static long AlignUp(long value, int alignment) => checked((value + alignment - 1) / alignment * alignment);

    private void ReadKeyValue(GgufCursor c, int index)
    {
        string key = c.String(GgufContext.Of($"the key of metadata entry {index}"));
        var where = GgufContext.Quoted("metadata key ", key);
        if (Metadata.ContainsKey(key)) throw c.Error($"{where} appears twice");
        uint typeId = c.U32(where.Prefixed("the type of "));
        if (!GgufValueTypeInfo.IsKnown(typeId))
            throw c.Error($"{where} has unknown value type {typeId} (expected 0..12)");
        Metadata.Set(key, ReadValue(c, (GgufValueType)typeId, where, 0));
    }

    // Contexts (GgufContext) are formatted only for an error, so reading stays linear in the file size
    // however long the key and the array are.
    private static GgufValue ReadValue(GgufCursor c, GgufValueType type, GgufContext what, int depth) => type switch
    {
        GgufValueType.UInt8 => GgufValue.UInt8(c.U8(what)),
        GgufValueType.Int8 => GgufValue.Int8((sbyte)c.U8(what)),
        GgufValueType.UInt16 => GgufValue.UInt16(c.U16(what)),
        GgufValueType.Int16 => GgufValue.Int16((short)c.U16(what)),
        GgufValueType.UInt32 => GgufValue.UInt32(c.U32(what)),
        GgufValueType.Int32 => GgufValue.Int32((int)c.U32(what)),
        GgufValueType.Float32 => GgufValue.Float32(c.F32(what)),
        GgufValueType.Bool => GgufValue.Bool(c.Bool(what)),
        GgufValueType.String => GgufValue.String(c.String(what)),
        GgufValueType.UInt64 => GgufValue.UInt64(c.U64(what)),
        GgufValueType.Int64 => GgufValue.Int64((long)c.U64(what)),
        GgufValueType.Float64 => GgufValue.Float64(c.F64(what)),
        GgufValueType.Array => GgufValue.Array(ReadArray(c, what, depth)),
        _ => throw c.Error($"{what} has unknown value type {(uint)type}"),
    };

    private static GgufArray ReadArray(GgufCursor c, GgufContext what, int depth)
    {
        if (depth >= MaxArrayNesting) throw c.Error($"{what}: arrays nested more than {MaxArrayNesting} deep");
        uint elemId = c.U32(what.Prefixed("the element type of "));
        if (!GgufValueTypeInfo.IsKnown(elemId))
            throw c.Error($"{what} is an array of unknown value type {elemId} (expected 0..12)");
        var et = (GgufValueType)elemId;
        ulong rawCount = c.U64(what.Prefixed("the length of "));
        // Strings take at least their 8-byte length, nested arrays their 12-byte header.
        int minBytes = et switch { GgufValueType.String => 8, GgufValueType.Array => 12, _ => GgufValueTypeInfo.FixedSize(et) };
        int n = c.CheckCount(rawCount, minBytes, what);
        switch (et)
        {
            case GgufValueType.UInt8: { var a = new byte[n]; for (int i = 0; i < n; i++) a[i] = c.U8(what); return new GgufArray(et, a); }
            case GgufValueType.Int8: { var a = new sbyte[n]; for (int i = 0; i < n; i++) a[i] = (sbyte)c.U8(what); return new GgufArray(et, a); }
            case GgufValueType.UInt16: { var a = new ushort[n]; for (int i = 0; i < n; i++) a[i] = c.U16(what); return new GgufArray(et, a); }
            case GgufValueType.Int16: { var a = new short[n]; for (int i = 0; i < n; i++) a[i] = (short)c.U16(what); return new GgufArray(et, a); }
            case GgufValueType.UInt32: { var a = new uint[n]; for (int i = 0; i < n; i++) a[i] = c.U32(what); return new GgufArray(et, a); }
            case GgufValueType.Int32: { var a = new int[n]; for (int i = 0; i < n; i++) a[i] = (int)c.U32(what); return new GgufArray(et, a); }
            case GgufValueType.Float32: { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = c.F32(what); return new GgufArray(et, a); }
            case GgufValueType.Bool:
            {
                var a = new bool[n];
                for (int i = 0; i < n; i++)
                {
                    long at = c.Position;
                    byte b = c.U8(what);
                    if (b > 1) throw c.Error($"{what.Item(i)} is a bool stored as {b} at offset {at}; only 0 and 1 are valid");
                    a[i] = b == 1;
                }
                return new GgufArray(et, a);
            }
            case GgufValueType.String: { var a = new string[n]; for (int i = 0; i < n; i++) a[i] = c.String(what.Item(i)); return new GgufArray(et, a); }
            case GgufValueType.UInt64: { var a = new ulong[n]; for (int i = 0; i < n; i++) a[i] = c.U64(what); return new GgufArray(et, a); }
            case GgufValueType.Int64: { var a = new long[n]; for (int i = 0; i < n; i++) a[i] = (long)c.U64(what); return new GgufArray(et, a); }
            case GgufValueType.Float64: { var a = new double[n]; for (int i = 0; i < n; i++) a[i] = c.F64(what); return new GgufArray(et, a); }
            default: { var a = new GgufArray[n]; for (int i = 0; i < n; i++) a[i] = ReadArray(c, what.Item(i), depth + 1); return new GgufArray(et, a); }
        }
    }

    private (string, GgmlType, long[], ulong, long) ReadTensorInfo(GgufCursor c, int index)
    {
        string name = c.String(GgufContext.Of($"the name of tensor {index}"));
        var t = GgufContext.Quoted("tensor ", name);
        uint nDims = c.U32(t.Prefixed("the dimension count of "));
        if (nDims > MaxDimensions) throw c.Error($"{t} has {nDims} dimensions; at most {MaxDimensions} are allowed");
        var ne = new long[nDims];
        for (int d = 0; d < nDims; d++)
        {
            ulong v = c.U64(t.Prefixed($"dimension {d} of "));
            if (v == 0 || v > long.MaxValue) throw c.Error($"{t}: dimension {d} is {(long)v}; expected a positive count");
            ne[d] = (long)v;
        }
        uint typeId = c.U32(t.Prefixed("the type of "));
        if (!GgmlTypeInfo.IsKnown(typeId)) throw c.Error($"{t} has unknown ggml type id {typeId}");
        var type = (GgmlType)typeId;
        var ti = GgmlTypeInfo.Of(type);
        long size;
        try
        {
            long elements = 1;
            foreach (var d in ne) elements = checked(elements * d);
            size = ti.TensorByteSize(ne);
        }
        catch (OverflowException)
        {
            throw c.Error($"{t}: shape [{string.Join(", ", ne)}] of {ti.Name} overflows a 64-bit byte count");
        }
        catch (ArgumentException)
        {
            throw c.Error($"{t}: row length {(ne.Length > 0 ? ne[0] : 1)} is not a multiple of the {ti.Name} block size {ti.BlockSize}");
        }
        ulong offset = c.U64(t.Prefixed("the data offset of "));
        return (name, type, ne, offset, size);
    }
}
