// Reader for Andrej Karpathy's llama2.c "legacy" (version 0) checkpoints: a 7-int32 header, then fp32 tensors.
using System.Buffers.Binary;
using QuantSharp.Core.IO;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats.Llama2c;

/// <summary>Hyperparameters from a llama2.c header.</summary>
/// <param name="Dim">Model width.</param>
/// <param name="HiddenDim">FFN width.</param>
/// <param name="NumLayers">Decoder layers.</param>
/// <param name="NumHeads">Query heads.</param>
/// <param name="NumKvHeads">Key/value heads.</param>
/// <param name="VocabSize">Vocabulary size (absolute value of the stored field).</param>
/// <param name="SeqLen">Maximum sequence length.</param>
/// <param name="SharedClassifier">Whether the classifier is the token embedding (stored vocab_size &gt; 0).</param>
public sealed record Llama2cHeader(int Dim, int HiddenDim, int NumLayers, int NumHeads, int NumKvHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    /// <summary>Per-head width.</summary>
    public int HeadDim => Dim / NumHeads;
}

/// <summary>
/// A llama2.c checkpoint, memory-mapped, exposing its tensors per layer under Meta's Llama names
/// (<c>tok_embeddings.weight</c>, <c>layers.N.attention.wq.weight</c>, …) in PyTorch [out, in] layout.
/// llama2.c applies RoPE to interleaved pairs, as GGUF's llama does (no q/k permutation needed).
/// </summary>
public sealed unsafe class Llama2cCheckpoint : IWeightSource
{
    private const int HeaderBytes = 7 * 4;
    private readonly MappedFile _file;
    private readonly Dictionary<string, (long Offset, long[] Shape)> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    public Llama2cCheckpoint(string path)
    {
        _file = new MappedFile(path);
        try
        {
            Header = ReadHeader();
            Layout();
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>The header.</summary>
    public Llama2cHeader Header { get; }

    /// <inheritdoc/>
    public string Origin => _file.Path;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc/>
    public TensorView Get(string name)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");
        long elements = 1;
        foreach (var d in t.Shape) elements *= d;
        _file.ThrowIfChanged();
        return new TensorView(name, DType.F32, t.Shape, _file.At(t.Offset, elements * 4, $"tensor '{name}'"), elements * 4);
    }

    /// <summary>Whether the file starts like a llama2.c legacy checkpoint (plausible header, size matches).</summary>
    public static bool LooksLikeCheckpoint(string path)
    {
        try
        {
            using var c = new Llama2cCheckpoint(path);
            return true;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    private Llama2cHeader ReadHeader()
    {
        if (_file.Length < HeaderBytes) throw new InvalidDataException($"{Origin}: {_file.Length} bytes is too short for a llama2.c header (28 bytes)");
        var h = _file.Span(0, HeaderBytes, "header");
        Span<int> f = stackalloc int[7];
        for (int i = 0; i < 7; i++) f[i] = BinaryPrimitives.ReadInt32LittleEndian(h.Slice(i * 4, 4));
        int dim = f[0], hidden = f[1], layers = f[2], heads = f[3], kvHeads = f[4], vocab = f[5], seq = f[6];
        void Check(bool ok, string what) { if (!ok) throw new InvalidDataException($"{Origin}: llama2.c header has {what} (dim {dim}, hidden_dim {hidden}, n_layers {layers}, n_heads {heads}, n_kv_heads {kvHeads}, vocab_size {vocab}, seq_len {seq})"); }
        Check(dim > 0 && dim <= 1 << 16, "an out-of-range dim");
        Check(hidden > 0 && hidden <= 1 << 18, "an out-of-range hidden_dim");
        Check(layers > 0 && layers <= 1024, "an out-of-range n_layers");
        Check(heads > 0 && dim % heads == 0 && (dim / heads) % 2 == 0, "n_heads that does not divide dim into even head sizes");
        Check(kvHeads > 0 && heads % kvHeads == 0, "n_kv_heads that does not divide n_heads");
        Check(vocab != 0 && vocab != int.MinValue && Math.Abs(vocab) <= 1 << 22, "an out-of-range vocab_size");
        Check(seq > 0 && seq <= 1 << 22, "an out-of-range seq_len");
        return new Llama2cHeader(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), seq, vocab > 0);
    }

    private void Layout()
    {
        var p = Header;
        int hs = p.HeadDim;
        long offset = HeaderBytes;
        void Add(string name, params long[] shape)
        {
            long n = 1;
            foreach (var d in shape) n *= d;
            _tensors[name] = (offset, shape);
            _names.Add(name);
            offset += n * 4;
        }
        void PerLayer(string name, params long[] shape)
        {
            for (int l = 0; l < p.NumLayers; l++) Add($"layers.{l}.{name}", shape);
        }
        Add("tok_embeddings.weight", p.VocabSize, p.Dim);
        PerLayer("attention_norm.weight", p.Dim);
        PerLayer("attention.wq.weight", p.NumHeads * hs, p.Dim);
        PerLayer("attention.wk.weight", p.NumKvHeads * hs, p.Dim);
        PerLayer("attention.wv.weight", p.NumKvHeads * hs, p.Dim);
        PerLayer("attention.wo.weight", p.Dim, p.NumHeads * hs);
        PerLayer("ffn_norm.weight", p.Dim);
        PerLayer("feed_forward.w1.weight", p.HiddenDim, p.Dim);
        PerLayer("feed_forward.w2.weight", p.Dim, p.HiddenDim);
        PerLayer("feed_forward.w3.weight", p.HiddenDim, p.Dim);
        Add("norm.weight", p.Dim);
        offset += 2L * p.SeqLen * hs / 2 * 4; // legacy freq_cis_real and freq_cis_imag tables, unused
        if (!p.SharedClassifier) Add("output.weight", p.VocabSize, p.Dim);
        if (offset != _file.Length)
            throw new InvalidDataException($"{Origin}: the header implies {offset} bytes but the file has {_file.Length}: truncated, or not a llama2.c legacy checkpoint");
    }

    /// <inheritdoc/>
    public void ThrowIfChanged() => _file.ThrowIfChanged();

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();
}
