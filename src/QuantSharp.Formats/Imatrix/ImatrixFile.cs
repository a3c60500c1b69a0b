// Reads and writes llama.cpp importance-matrix files (GGUF and legacy .dat) exactly as llama-imatrix b8390 lays them out.
using QuantSharp.Core.IO;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Formats.Imatrix;

/// <summary>
/// llama.cpp's imatrix files (tools/imatrix/imatrix.cpp and tools/quantize/quantize.cpp, build b8390).
/// <para>GGUF: metadata general.type = "imatrix", imatrix.datasets (string array), imatrix.chunk_count
/// and imatrix.chunk_size (uint32); per weight, sorted by name, an F32 tensor "&lt;name&gt;.in_sum2"
/// with ne = [columns, matrices] (Σx²) followed by an F32 tensor "&lt;name&gt;.counts" with
/// ne = [1, matrices] (tokens), trailing unit dimensions dropped as ggml's writer does.</para>
/// <para>Legacy .dat (little-endian): int32 entry count; per entry int32 name length, the name,
/// int32 ncall, int32 value count, that many float32 values = (Σx² / count) × ncall; then int32
/// chunk count, int32 length and the bytes of the last data set name.</para>
/// Reading validates every field against the file size and the rules above and throws
/// <see cref="InvalidDataException"/> naming the file and the entry. Writing goes through a temporary
/// file renamed into place.
/// </summary>
public static class ImatrixFile
{
    /// <summary>Metadata key of the data set names.</summary>
    public const string DatasetsKey = "imatrix.datasets";
    /// <summary>Metadata key of the chunk count.</summary>
    public const string ChunkCountKey = "imatrix.chunk_count";
    /// <summary>Metadata key of the chunk size.</summary>
    public const string ChunkSizeKey = "imatrix.chunk_size";
    /// <summary>general.type of an imatrix GGUF.</summary>
    public const string GeneralTypeKey = "general.type";
    /// <summary>Suffix of the Σx² tensors.</summary>
    public const string SumOfSquaresSuffix = ".in_sum2";
    /// <summary>Suffix of the count tensors.</summary>
    public const string CountsSuffix = ".counts";
    /// <summary>llama-imatrix's default n_ctx: the chunk size it assumes when loading a legacy file, which does not store one.</summary>
    public const int DefaultLegacyChunkSize = 512;

    // A legacy name longer than this is not a tensor name; the bound keeps a hostile length from allocating.
    private const int MaxLegacyNameBytes = 1 << 16;

    /// <summary>Reads either format, recognising GGUF by its magic number (llama-quantize tries GGUF first, then legacy).</summary>
    public static ImportanceMatrix Read(string path, int legacyChunkSize = DefaultLegacyChunkSize)
        => DetectFormat(path) == ImatrixFormat.Gguf ? ReadGguf(path) : ReadLegacy(path, legacyChunkSize);

    /// <summary>The format of <paramref name="path"/>, from its first four bytes.</summary>
    public static ImatrixFormat DetectFormat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: imatrix file not found", path);
        Span<byte> head = stackalloc byte[4];
        using var fs = File.OpenRead(path);
        int n = fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        return n == 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == GgufFile.Magic ? ImatrixFormat.Gguf : ImatrixFormat.Legacy;
    }

    /// <summary>Reads an imatrix GGUF, validating metadata, tensor names, types, shapes and values.</summary>
    public static ImportanceMatrix ReadGguf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = new GgufFile(path);
        var md = file.Metadata;
        InvalidDataException Bad(string message) => new($"{path}: {message}");

        if (!md.TryGetValue(GeneralTypeKey, out var typeValue))
            throw Bad($"metadata key '{GeneralTypeKey}' is missing; an imatrix GGUF has \"imatrix\" there");
        if (typeValue.Value is not string generalType || generalType != "imatrix")
            throw Bad($"metadata key '{GeneralTypeKey}' is {typeValue}; expected the string \"imatrix\" (is this a model rather than an imatrix?)");
        if (!md.TryGetValue(DatasetsKey, out var ds)) throw Bad($"metadata key '{DatasetsKey}' is missing");
        if (ds.Value is not GgufArray { ElementType: GgufValueType.String } dsArray)
            throw Bad($"metadata key '{DatasetsKey}' is {ds}; expected an array of strings");
        uint chunkCount = RequireUInt32(md, ChunkCountKey, Bad);
        uint chunkSize = RequireUInt32(md, ChunkSizeKey, Bad);
        if (chunkSize == 0) throw Bad($"metadata key '{ChunkSizeKey}' is 0; expected a positive token count");
        if (chunkCount > int.MaxValue || chunkSize > int.MaxValue)
            throw Bad($"chunk count {chunkCount} or chunk size {chunkSize} exceeds {int.MaxValue}");
        if (file.Tensors.Count == 0) throw Bad("no tensors: an imatrix GGUF holds <weight>.in_sum2 and <weight>.counts pairs");
        // ggml reads the data section as whole aligned blocks, so a file cut inside the last padding is truncated too.
        long dataEnd = file.Tensors.Max(t => t.FileOffset + (t.ByteSize + file.Alignment - 1) / file.Alignment * file.Alignment);
        long length = file.FileLength;
        if (length < dataEnd) throw Bad($"the file has {length} bytes but its tensor data ends at {dataEnd} (truncated?)");

        // llama-quantize pairs tensors by suffix and ignores any other tensor.
        var sums = new SortedDictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        var counts = new SortedDictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            if (t.Name.EndsWith(SumOfSquaresSuffix, StringComparison.Ordinal)) sums[t.Name[..^SumOfSquaresSuffix.Length]] = t;
            else if (t.Name.EndsWith(CountsSuffix, StringComparison.Ordinal)) counts[t.Name[..^CountsSuffix.Length]] = t;
        }
        if (sums.Count == 0 && counts.Count == 0) throw Bad($"no '*{SumOfSquaresSuffix}' or '*{CountsSuffix}' tensor among its {file.Tensors.Count} tensors");

        var entries = new List<ImportanceMatrixEntry>(sums.Count);
        foreach (var name in sums.Keys.Union(counts.Keys, StringComparer.Ordinal))
        {
            string what = $"entry '{name}'";
            if (name.Length == 0) throw Bad($"tensor '{SumOfSquaresSuffix}' or '{CountsSuffix}' has no weight name before the suffix");
            if (!sums.TryGetValue(name, out var s)) throw Bad($"{what}: '{name}{CountsSuffix}' has no matching '{name}{SumOfSquaresSuffix}'");
            if (!counts.TryGetValue(name, out var c)) throw Bad($"{what}: '{name}{SumOfSquaresSuffix}' has no matching '{name}{CountsSuffix}'");
            if (s.Type != GgmlType.F32) throw Bad($"{what}: '{s.Name}' is {s.Type}; expected F32");
            if (c.Type != GgmlType.F32) throw Bad($"{what}: '{c.Name}' is {c.Type}; expected F32");
            var sd = s.Dimensions;
            if (sd.Length < 1 || sd.Skip(2).Any(d => d != 1))
                throw Bad($"{what}: '{s.Name}' has ne [{string.Join(", ", sd)}]; expected [columns, matrices]");
            long columns = sd[0], matrices = sd.Length > 1 ? sd[1] : 1;
            if (columns > int.MaxValue || matrices > int.MaxValue || columns * matrices > Array.MaxLength)
                throw Bad($"{what}: '{s.Name}' has {columns} × {matrices} values, too many");
            if (c.ElementCount != matrices || c.Dimensions[0] != 1)
                throw Bad($"{what}: '{c.Name}' has ne [{string.Join(", ", c.Dimensions)}]; expected [1, {matrices}], one count per matrix of '{s.Name}'");

            var sumValues = MemoryMarshal.Cast<byte, float>(file.GetRawBytes(s.Name)).ToArray();
            for (int i = 0; i < sumValues.Length; i++)
                if (!float.IsFinite(sumValues[i]) || sumValues[i] < 0)
                    throw Bad($"{what}: '{s.Name}'[{i}] is {sumValues[i]}; a sum of squares must be finite and ≥ 0");
            var countFloats = MemoryMarshal.Cast<byte, float>(file.GetRawBytes(c.Name));
            var countValues = new long[matrices];
            for (int i = 0; i < countFloats.Length; i++)
            {
                float v = countFloats[i];
                // llama-imatrix stores whole token counts as float; 2^53 keeps the conversion exact.
                if (!float.IsFinite(v) || v < 0 || v != MathF.Floor(v) || v > 9007199254740992f)
                    throw Bad($"{what}: '{c.Name}'[{i}] is {v}; a token count must be a whole number ≥ 0");
                countValues[i] = (long)v;
            }
            entries.Add(new ImportanceMatrixEntry(name, (int)columns, sumValues, countValues));
        }
        return new ImportanceMatrix(entries, (int)chunkCount, (int)chunkSize, (string[])dsArray.Items);
    }

    /// <summary>
    /// Reads a legacy .dat imatrix. Each entry's stored values v (already Σx²/count × ncall) become
    /// Σx² = v × <paramref name="chunkSize"/> over count = ncall × <paramref name="chunkSize"/> tokens,
    /// the state llama-imatrix rebuilds when it loads such a file; the importance is then v / ncall,
    /// what llama-quantize computes (bit for bit when the chunk size is a power of two, as the default
    /// 512 is: both factors scale exactly). ncall must be ≥ 1 (llama-imatrix never writes less).
    /// </summary>
    /// <param name="path">The .dat file.</param>
    /// <param name="chunkSize">Tokens per chunk to assume (the file does not say; llama-imatrix assumes its n_ctx, 512 by default).</param>
    public static ImportanceMatrix ReadLegacy(string path, int chunkSize = DefaultLegacyChunkSize)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: imatrix file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        var r = new LegacyReader(bytes, path);
        int nEntries = r.Int32("the entry count");
        if (nEntries < 1) throw r.Error($"the entry count is {nEntries}; expected at least 1 (a legacy imatrix .dat file starts with it)");
        // An entry needs at least 4 (name length) + 1 (name) + 4 (ncall) + 4 (count) + 4 (one value) bytes.
        if ((long)nEntries * 17 > r.Remaining) throw r.Error($"{nEntries} entries cannot fit in the remaining {r.Remaining} bytes");

        var entries = new List<ImportanceMatrixEntry>(nEntries);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long maxNcall = 0;
        for (int i = 0; i < nEntries; i++)
        {
            int len = r.Int32($"the name length of entry {i + 1}");
            if (len < 1 || len > MaxLegacyNameBytes) throw r.Error($"entry {i + 1}: name length {len}; expected 1 to {MaxLegacyNameBytes}");
            string name = r.Utf8(len, $"the name of entry {i + 1}");
            string what = $"entry {i + 1} ('{name}')";
            if (!seen.Add(name)) throw r.Error($"{what}: the name appears twice");
            int ncall = r.Int32($"the ncall of {what}");
            if (ncall < 1) throw r.Error($"{what}: ncall is {ncall}; expected ≥ 1");
            int nval = r.Int32($"the value count of {what}");
            if (nval < 1) throw r.Error($"{what}: value count {nval}; expected ≥ 1");
            if ((long)nval * 4 > r.Remaining) throw r.Error($"{what}: {nval} values need {(long)nval * 4} bytes, only {r.Remaining} remain");
            var stored = r.Floats(nval);
            var sumsOfSquares = new float[nval];
            for (int j = 0; j < nval; j++)
            {
                float v = stored[j];
                float s = v * chunkSize;
                if (!float.IsFinite(v) || v < 0 || !float.IsFinite(s))
                    throw r.Error($"{what}: value {j} is {v}; expected a finite mean square ≥ 0");
                sumsOfSquares[j] = s;
            }
            maxNcall = Math.Max(maxNcall, ncall);
            entries.Add(new ImportanceMatrixEntry(name, nval, sumsOfSquares, [(long)ncall * chunkSize]));
        }

        // The newest legacy files end with the chunk count and the data set name; older ones stop here.
        int chunkCount;
        var datasets = new List<string>();
        if (r.Remaining == 0)
            chunkCount = (int)Math.Min(int.MaxValue, maxNcall);
        else
        {
            chunkCount = r.Int32("the chunk count after the last entry");
            if (chunkCount < 0) throw r.Error($"the chunk count after the last entry is {chunkCount}; expected ≥ 0");
            int dlen = r.Int32("the data set name length");
            if (dlen < 0 || dlen > r.Remaining) throw r.Error($"the data set name length is {dlen}; {r.Remaining} bytes remain");
            datasets.Add(r.Utf8(dlen, "the data set name"));
            if (r.Remaining != 0) throw r.Error($"{r.Remaining} unexpected bytes after the data set name");
        }
        return new ImportanceMatrix(entries, chunkCount, chunkSize, datasets);
    }

    /// <summary>Writes <paramref name="matrix"/> in <paramref name="format"/>; see <see cref="WriteGguf"/> and <see cref="WriteLegacy"/>.</summary>
    public static void Write(ImportanceMatrix matrix, string path, ImatrixFormat format, IEnumerable<string>? protectedPaths = null)
    {
        if (format == ImatrixFormat.Gguf) WriteGguf(matrix, path, protectedPaths);
        else WriteLegacy(matrix, path, protectedPaths);
    }

    /// <summary>
    /// Writes the GGUF layout, byte for byte what llama-imatrix b8390's save_imatrix produces for the
    /// same statistics: every entry (also those without tokens), sorted by name.
    /// </summary>
    /// <param name="matrix">The statistics.</param>
    /// <param name="path">Destination (replaced atomically).</param>
    /// <param name="protectedPaths">Files that must not be overwritten (the model, the calibration text).</param>
    public static void WriteGguf(ImportanceMatrix matrix, string path, IEnumerable<string>? protectedPaths = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(path);
        if (matrix.Entries.Count == 0) throw new ArgumentException("the importance matrix has no entries to write", nameof(matrix));
        var md = new GgufMetadata(path);
        md.SetString(GeneralTypeKey, "imatrix");
        md.SetArray(DatasetsKey, matrix.Datasets.ToArray());
        md.SetUInt32(ChunkCountKey, (uint)matrix.ChunkCount);
        md.SetUInt32(ChunkSizeKey, (uint)matrix.ChunkSize);
        var writer = new GgufWriter(md);
        foreach (var e in matrix.Entries)
        {
            // ggml_new_tensor_2d(ne0 = columns, ne1 = matrices); the writer keeps ggml_n_dims dimensions.
            long[] sumShape = e.MatrixCount == 1 ? [e.Columns] : [e.MatrixCount, e.Columns];
            long[] countShape = e.MatrixCount == 1 ? [1] : [e.MatrixCount, 1];
            float[] countValues = Array.ConvertAll(e.Counts, c => (float)c);
            writer.AddTensor(e.Name + SumOfSquaresSuffix, sumShape, e.SumOfSquares);
            writer.AddTensor(e.Name + CountsSuffix, countShape, countValues);
        }
        writer.WriteFile(path, protectedPaths);
    }

    /// <summary>
    /// Writes the legacy .dat layout as llama-imatrix b8390's save_imatrix_legacy does: entries with
    /// tokens, sorted by name; ncall = ⌈max count / chunk size⌉; values (Σx² / count) × ncall in float,
    /// with 1 × ncall for a matrix without tokens; then the chunk count and the last data set name.
    /// </summary>
    /// <param name="matrix">The statistics.</param>
    /// <param name="path">Destination (replaced atomically).</param>
    /// <param name="protectedPaths">Files that must not be overwritten.</param>
    public static void WriteLegacy(ImportanceMatrix matrix, string path, IEnumerable<string>? protectedPaths = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(path);
        var stored = matrix.Entries.Where(e => e.Counts.Any(c => c != 0)).ToArray();
        if (stored.Length == 0) throw new ArgumentException("no importance matrix entry has any tokens; the legacy format cannot store that", nameof(matrix));
        long chunk = matrix.ChunkSize;
        WriteAtomically(path, protectedPaths, s =>
        {
            var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
            w.Write(stored.Length);
            foreach (var e in stored)
            {
                var name = Encoding.UTF8.GetBytes(e.Name);
                w.Write(name.Length);
                w.Write(name);
                long ncall = (e.Counts.Max() + (chunk - 1)) / chunk;
                if (ncall > int.MaxValue) throw new ArgumentException($"entry '{e.Name}': {e.Counts.Max()} tokens are too many chunks for the legacy format");
                w.Write((int)ncall);
                w.Write(e.SumOfSquares.Length);
                int perMatrix = e.Columns;
                for (int i = 0; i < e.SumOfSquares.Length; i++)
                {
                    float count = e.Counts[i / perMatrix];
                    float value = e.SumOfSquares[i];
                    if (count == 0f) { value = 1f; count = 1f; }
                    w.Write(value / count * (float)ncall);
                }
            }
            w.Write(matrix.ChunkCount);
            var dataset = Encoding.UTF8.GetBytes(matrix.Datasets.Count > 0 ? matrix.Datasets[^1] : "");
            w.Write(dataset.Length);
            w.Write(dataset);
            w.Flush();
        });
    }

    private static uint RequireUInt32(GgufMetadata md, string key, Func<string, InvalidDataException> bad)
    {
        if (!md.TryGetValue(key, out var v)) throw bad($"metadata key '{key}' is missing");
        return v.Value is uint u ? u : throw bad($"metadata key '{key}' is {v}; expected UInt32");
    }

    private static void WriteAtomically(string path, IEnumerable<string>? protectedPaths, Action<Stream> write)
        => AtomicFile.Write(path, protectedPaths, fs => write(fs), bufferSize: 1 << 16);

    /// <summary>Bounds-checked little-endian reads over a legacy file's bytes, with errors naming the file and offset.</summary>
    private sealed class LegacyReader(byte[] bytes, string path)
    {
        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        private int _pos;

        public long Remaining => bytes.Length - _pos;

        public InvalidDataException Error(string message) => new($"{path}: {message} (at byte {_pos} of {bytes.Length}; legacy imatrix .dat)");

        public int Int32(string what)
        {
            if (Remaining < 4) throw Error($"the file ends before {what} (truncated?)");
            int v = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(_pos, 4));
            _pos += 4;
            return v;
        }

        public string Utf8(int length, string what)
        {
            if (Remaining < length) throw Error($"the file ends inside {what}: {length} bytes expected, {Remaining} remain (truncated?)");
            string s;
            try { s = StrictUtf8.GetString(bytes, _pos, length); }
            catch (DecoderFallbackException) { throw Error($"{what} is not valid UTF-8"); }
            _pos += length;
            return s;
        }

        public float[] Floats(int count)
        {
            var v = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(_pos, count * 4)).ToArray();
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("imatrix reading needs a little-endian machine");
            _pos += count * 4;
            return v;
        }
    }
}
