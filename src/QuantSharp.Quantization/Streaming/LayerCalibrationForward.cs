// One decoder layer's calibration inputs, chunk by chunk, and its forward over a chunk, for transforms that measure output error.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The residual stream entering one decoder layer for every calibration token (sequences end to end, each from position
/// 0), read in <see cref="Chunks"/> of whole sequences — the runner's own chunks — and the steps of
/// <see cref="DecoderLayerForward"/> over one chunk, with any weights the caller passes: a transform runs the original
/// layer for reference outputs and candidate (scaled, rounded) weights against them. The same code as the inference
/// session and the runner, so a transform's "unchanged function" is checked against the real forward. A token's results
/// do not depend on the chunking (whole sequences; the matmul's rows are independent) nor on the thread count. Memory:
/// <see cref="MaxChunkTokens"/>·(q + 2·kv + hidden + dim widths) floats of scratch; values a transform needs for every
/// token go to <see cref="CreateValues"/> (a temporary file with the run's default storage), not the heap.
/// </summary>
public sealed class LayerCalibrationForward
{
    private readonly LlamaHyperParameters _hp;
    private readonly DecoderLayerForward _forward;
    private readonly LayerCalibrationValues _input;
    private readonly IReadOnlyList<int[]> _sequences;
    private readonly ActivationStorage _storage;
    private readonly string? _temporaryDirectory;
    private readonly int[] _positions, _chunkSequenceStart, _starts;
    private readonly int _maxSequence;
    private readonly float[] _q, _k, _v, _up, _proj;

    /// <summary>
    /// Reads layer <paramref name="layer"/>'s inputs from <paramref name="input"/> (the run's store of the calibration
    /// <paramref name="sequences"/>, [tokens, dim] each; not modified), in <paramref name="chunks"/>
    /// (first sequence, sequences, tokens) that cover the sequences in order.
    /// </summary>
    internal LayerCalibrationForward(LlamaHyperParameters hp, int layer, ActivationStore input, IReadOnlyList<int[]> sequences,
        IReadOnlyList<(int First, int Count, int Tokens)> chunks, ActivationStorage storage, string? temporaryDirectory)
    {
        _hp = hp;
        Layer = layer;
        if (input.Width != hp.Dim) throw new ArgumentException($"layer {layer}: calibration inputs of width {input.Width}, the model's is {hp.Dim}");
        _sequences = sequences;
        _input = new LayerCalibrationValues(input, sequences, owned: false);
        _storage = storage;
        _temporaryDirectory = temporaryDirectory;
        Tokens = sequences.Sum(s => s.Length);
        var list = new List<CalibrationChunk>(chunks.Count);
        int nextSequence = 0, firstToken = 0;
        foreach (var (first, count, tokens) in chunks)
        {
            if (first != nextSequence || tokens != Enumerable.Range(first, count).Sum(s => sequences[s].Length))
                throw new ArgumentException($"layer {layer}: calibration chunk at sequence {first} does not continue the chunks before it");
            list.Add(new CalibrationChunk(first, count, firstToken, tokens));
            nextSequence = first + count;
            firstToken += tokens;
        }
        if (nextSequence != sequences.Count) throw new ArgumentException($"layer {layer}: the calibration chunks cover {nextSequence} of {sequences.Count} sequences");
        Chunks = list;
        MaxChunkTokens = list.Count == 0 ? 0 : list.Max(c => c.Tokens);
        // Positions within each token's sequence, and the chunk-relative start of its sequence (attention's window).
        _positions = new int[Tokens];
        _chunkSequenceStart = new int[Tokens];
        foreach (var c in list)
            for (int s = 0, off = c.FirstToken; s < c.Sequences; off += sequences[c.FirstSequence + s].Length, s++)
                for (int i = 0; i < sequences[c.FirstSequence + s].Length; i++)
                {
                    _positions[off + i] = i;
                    _chunkSequenceStart[off + i] = off - c.FirstToken;
                }
        _maxSequence = sequences.Count == 0 ? 1 : sequences.Max(s => s.Length);
        _forward = new DecoderLayerForward(hp, _maxSequence);
        _starts = new int[MaxChunkTokens];
        _q = new float[(long)MaxChunkTokens * hp.QDim];
        _k = new float[(long)MaxChunkTokens * hp.KvDim];
        _v = new float[(long)MaxChunkTokens * hp.KvDim];
        _up = new float[(long)MaxChunkTokens * hp.HiddenDim];
        _proj = new float[(long)MaxChunkTokens * hp.Dim];
    }

    /// <summary>Decoder layer index.</summary>
    public int Layer { get; }

    /// <summary>Calibration tokens, all chunks together.</summary>
    public int Tokens { get; }

    /// <summary>The chunks, in token order; together every calibration token once.</summary>
    public IReadOnlyList<CalibrationChunk> Chunks { get; }

    /// <summary>Tokens of the largest chunk (rows of a <see cref="Buffer"/>).</summary>
    public int MaxChunkTokens { get; }

    /// <summary>A buffer of <paramref name="width"/> floats per token of the largest chunk.</summary>
    public float[] Buffer(int width) => new float[(long)MaxChunkTokens * width];

    /// <summary><paramref name="x"/> [chunk tokens, dim] = the layer's input for <paramref name="chunk"/>'s tokens.</summary>
    public void ReadInput(CalibrationChunk chunk, Span<float> x) => _input.Read(chunk, x);

    /// <summary>Storage for <paramref name="width"/> floats of every calibration token, laid out like the run's hidden states (the caller disposes it).</summary>
    internal LayerCalibrationValues CreateValues(int width)
        => new(ActivationStore.Create(_storage, _sequences, width, _temporaryDirectory), _sequences, owned: true);

    /// <summary><paramref name="xn"/> [chunk tokens, dim] = the attention norm of <paramref name="x"/> with <paramref name="w"/>'s γ.</summary>
    public void AttentionNorm(CalibrationChunk chunk, ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn)
        => _forward.AttentionNorm(x, w, xn, chunk.Tokens);

    /// <summary>
    /// <paramref name="attention"/> [chunk tokens, q width] = causal attention of the queries, keys and values of
    /// <paramref name="xn"/> through <paramref name="wq"/>/<paramref name="wk"/>/<paramref name="wv"/> (biases, q/k norms
    /// from <paramref name="w"/>), RoPE at each token's position in its sequence: o_proj's input.
    /// </summary>
    public void Attention(CalibrationChunk chunk, ReadOnlySpan<float> xn, LlamaLayerWeights w, TensorView wq, TensorView wk, TensorView wv, float[] attention)
    {
        int n = chunk.Tokens;
        _forward.QueryKeyValue(Layer, xn, n, w, wq, wk, wv, _q, _k, _v, _positions.AsSpan(chunk.FirstToken, n));
        // CausalAttention takes whole arrays: the chunk's sequence starts are copied to the front of a scratch array.
        _chunkSequenceStart.AsSpan(chunk.FirstToken, n).CopyTo(_starts);
        CausalAttention.Run(_hp, Layer, _q, _k, _v, attention, _starts, n, _maxSequence);
    }

    /// <summary><paramref name="y"/> [chunk tokens, rows of w] = <paramref name="input"/>·Wᵀ.</summary>
    public void Project(CalibrationChunk chunk, ReadOnlySpan<float> input, TensorView weight, Span<float> y) => MatMul.Multiply(input, chunk.Tokens, weight, y);

    /// <summary><paramref name="x"/> += [post-norm](attention·Woᵀ): the residual stream after attention.</summary>
    public void AttentionOutput(CalibrationChunk chunk, ReadOnlySpan<float> attention, LlamaLayerWeights w, TensorView wo, Span<float> x)
        => _forward.AttentionOutput(attention, chunk.Tokens, w, wo, _proj, x);

    /// <summary><paramref name="xn"/> = the MLP norm of <paramref name="x"/> with <paramref name="w"/>'s γ.</summary>
    public void MlpNorm(CalibrationChunk chunk, ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn) => _forward.MlpNorm(x, w, xn, chunk.Tokens);

    /// <summary><paramref name="hidden"/> [chunk tokens, hidden] = act(xn·Wgateᵀ)·(xn·Wupᵀ): down_proj's input.</summary>
    public void MlpHidden(CalibrationChunk chunk, ReadOnlySpan<float> xn, TensorView gate, TensorView up, Span<float> hidden)
        => _forward.MlpHidden(xn, chunk.Tokens, gate, up, hidden, _up);
}
