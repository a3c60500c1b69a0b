// An importance matrix (llama.cpp "imatrix"): activation statistics per weight tensor plus calibration metadata.
using System.Text;

namespace QuantSharp.Formats.Imatrix;

/// <summary>
/// Per-column activation statistics for the linear weights of a model, as llama-imatrix collects
/// them: entries keyed by GGUF tensor name, the number of calibration chunks, the chunk size in
/// tokens and the names of the calibration data sets. Read and written by <see cref="ImatrixFile"/>.
/// Entries are kept in the order llama-imatrix writes them (names sorted by their UTF-8 bytes).
/// </summary>
public sealed class ImportanceMatrix
{
    private readonly Dictionary<string, ImportanceMatrixEntry> _byName = new(StringComparer.Ordinal);

    /// <summary>Creates a matrix; entry names must be unique.</summary>
    /// <param name="entries">One entry per weight tensor.</param>
    /// <param name="chunkCount">Calibration chunks processed (imatrix.chunk_count).</param>
    /// <param name="chunkSize">Tokens per chunk (imatrix.chunk_size, llama-imatrix's n_ctx).</param>
    /// <param name="datasets">Calibration data set names, oldest first (imatrix.datasets).</param>
    public ImportanceMatrix(IEnumerable<ImportanceMatrixEntry> entries, int chunkCount, int chunkSize, IEnumerable<string> datasets)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(datasets);
        if (chunkCount < 0) throw new ArgumentOutOfRangeException(nameof(chunkCount), chunkCount, "chunk count must be ≥ 0");
        if (chunkSize < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunk size must be ≥ 1");
        foreach (var e in entries)
        {
            ArgumentNullException.ThrowIfNull(e);
            if (!_byName.TryAdd(e.Name, e)) throw new ArgumentException($"importance matrix entry '{e.Name}' appears twice", nameof(entries));
        }
        Entries = _byName.Values.OrderBy(e => e.Name, Utf8Order.Instance).ToArray();
        ChunkCount = chunkCount;
        ChunkSize = chunkSize;
        Datasets = datasets.ToArray();
        foreach (var d in Datasets) ArgumentNullException.ThrowIfNull(d, nameof(datasets));
    }

    /// <summary>Entries sorted by name (UTF-8 byte order, as llama-imatrix's std::sort).</summary>
    public IReadOnlyList<ImportanceMatrixEntry> Entries { get; }

    /// <summary>Calibration chunks processed.</summary>
    public int ChunkCount { get; }

    /// <summary>Tokens per calibration chunk.</summary>
    public int ChunkSize { get; }

    /// <summary>Calibration data set names.</summary>
    public IReadOnlyList<string> Datasets { get; }

    /// <summary>The entry for weight <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> naming it when absent.</summary>
    public ImportanceMatrixEntry this[string name]
        => _byName.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"the importance matrix has no entry for '{name}'");

    /// <summary>Whether there is an entry for weight <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>
    /// The importance vectors the quantizer takes, exactly as llama-quantize b8390 computes them when
    /// it loads an imatrix file (tools/quantize/quantize.cpp, load_imatrix): per weight name, for each
    /// matrix, Σx² / count per column in float, or 1 for every column of a matrix with no tokens.
    /// For a dense weight the vector has one value per input column (the weight's row length).
    /// A matrix read from a legacy .dat file gives stored value / ncall, as llama-quantize's
    /// load_legacy_imatrix does (see <see cref="ImatrixFile.ReadLegacy"/>).
    /// </summary>
    public IReadOnlyDictionary<string, float[]> ToQuantizerImportance()
    {
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var e in Entries) result.Add(e.Name, e.MeanSquares());
        return result;
    }

    /// <summary>Orders strings by their UTF-8 bytes (what std::string's operator&lt; does).</summary>
    internal sealed class Utf8Order : IComparer<string>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            return Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y));
        }
    }
}
