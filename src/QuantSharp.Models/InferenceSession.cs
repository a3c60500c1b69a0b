// Runs a decoder model on CPU: batched prefill and one-token decode over a KV cache.
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Models;

/// <summary>
/// One sequence's state (KV cache and scratch buffers) for a <see cref="LlamaModel"/>. Not
/// thread-safe; the work inside each call is spread over cores. Computation is fp32 whatever the
/// weight dtype, and results do not depend on the thread count.
/// </summary>
public sealed class InferenceSession
{
    private readonly LlamaModel _model;
    private readonly LlamaHyperParameters _hp;
    // Per layer [kvHead, position, headDim] (keys with RoPE applied): one head's rows are contiguous,
    // so attention streams exactly the bytes it uses (with [position, kvDim] rows it touched a
    // quarter of every 1 KB row and the hardware prefetcher fetched the rest).
    // One of the two pairs is allocated, as KvCache says.
    private readonly float[][]? _keyCache, _valueCache;
    private readonly Half[][]? _keyCache16, _valueCache16;
    private readonly DecoderLayerForward _layer;
    private readonly int[] _positions;       // positions of the batch in progress
    private readonly int _maxBatch;

    // Scratch, sized for the largest batch.
    private readonly float[] _x, _xn, _q, _k, _v, _attn, _proj, _gate, _up;

    /// <summary>Creates a session with room for <paramref name="contextLength"/> positions.</summary>
    /// <param name="model">The model.</param>
    /// <param name="contextLength">KV cache size in tokens (defaults to the model's context).</param>
    /// <param name="maxBatch">Largest number of tokens one <see cref="Forward"/> call may take.</param>
    /// <param name="kvCache">Element type of the KV cache (fp32 by default; fp16 as llama.cpp's default).</param>
    public InferenceSession(LlamaModel model, int? contextLength = null, int maxBatch = 512, KvCacheType kvCache = KvCacheType.F32)
    {
        if (!Enum.IsDefined(kvCache)) throw new ArgumentOutOfRangeException(nameof(kvCache), kvCache, "KV cache type must be F32 or F16");
        KvCache = kvCache;
        _model = model;
        _hp = model.Parameters;
        ContextLength = contextLength ?? _hp.ContextLength;
        if (ContextLength <= 0) throw new ArgumentOutOfRangeException(nameof(contextLength), "context length must be positive");
        _maxBatch = Math.Clamp(maxBatch, 1, ContextLength);
        long perLayer = (long)ContextLength * _hp.KvDim;
        if (kvCache == KvCacheType.F16)
        {
            _keyCache16 = new Half[_hp.NumLayers][];
            _valueCache16 = new Half[_hp.NumLayers][];
            for (int l = 0; l < _hp.NumLayers; l++)
            {
                _keyCache16[l] = new Half[perLayer];
                _valueCache16[l] = new Half[perLayer];
            }
        }
        else
        {
            _keyCache = new float[_hp.NumLayers][];
            _valueCache = new float[_hp.NumLayers][];
            for (int l = 0; l < _hp.NumLayers; l++)
            {
                _keyCache[l] = new float[perLayer];
                _valueCache[l] = new float[perLayer];
            }
        }
        KvCacheBytes = 2 * _hp.NumLayers * perLayer * (kvCache == KvCacheType.F16 ? 2 : 4);
        _layer = new DecoderLayerForward(_hp, ContextLength);
        int b = _maxBatch;
        _positions = new int[b];
        _x = new float[b * _hp.Dim];
        _xn = new float[b * _hp.Dim];
        _q = new float[b * _hp.QDim];
        _k = new float[b * _hp.KvDim];
        _v = new float[b * _hp.KvDim];
        _attn = new float[b * _hp.QDim];
        _proj = new float[b * _hp.Dim];
        _gate = new float[b * _hp.HiddenDim];
        _up = new float[b * _hp.HiddenDim];
    }

    /// <summary>KV cache capacity in tokens.</summary>
    public int ContextLength { get; }

    /// <summary>Element type of the KV cache.</summary>
    public KvCacheType KvCache { get; }

    /// <summary>Bytes the KV cache holds (keys and values of every layer, full context).</summary>
    public long KvCacheBytes { get; }

    /// <summary>Number of tokens already in the cache (the position of the next token).</summary>
    public int Position { get; private set; }

    /// <summary>Largest batch one call accepts.</summary>
    public int MaxBatch => _maxBatch;

    /// <summary>Optional observer of every weight multiplication's input (imatrix calibration); null for none.</summary>
    public IMatMulObserver? MatMulObserver { get; set; }

    /// <summary>Forgets all cached tokens.</summary>
    public void Reset() => Position = 0;

    /// <summary>
    /// Appends <paramref name="tokens"/> at the current position and computes logits.
    /// </summary>
    /// <param name="tokens">Token ids (at most <see cref="MaxBatch"/>; longer inputs are split).</param>
    /// <param name="logits">[tokens, vocab] when <paramref name="allLogits"/>, else [vocab] for the last token.</param>
    /// <param name="allLogits">Whether to compute logits for every token or only the last.</param>
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits, bool allLogits)
    {
        int vocab = _hp.VocabSize;
        CheckTokens(tokens);
        int needed = allLogits ? tokens.Length * vocab : vocab;
        if (logits.Length < needed) throw new ArgumentException($"logits buffer has {logits.Length} floats, needs {needed}", nameof(logits));

        for (int start = 0; start < tokens.Length; start += _maxBatch)
        {
            int n = Math.Min(_maxBatch, tokens.Length - start);
            bool last = start + n == tokens.Length;
            ForwardBatch(tokens.Slice(start, n));
            if (allLogits) ComputeLogits(0, n, logits.Slice(start * vocab, n * vocab));
            else if (last) ComputeLogits(n - 1, 1, logits[..vocab]);
        }
    }

    /// <summary>
    /// Appends <paramref name="tokens"/> and writes, for every token, the final-normed hidden state — the classifier's
    /// input — without multiplying by the classifier (classifier calibration; the matmul observer is not called for it).
    /// </summary>
    /// <param name="tokens">Token ids (longer inputs than <see cref="MaxBatch"/> are split).</param>
    /// <param name="hidden">[tokens, hidden size].</param>
    /// <param name="finalNormWeights">Whether the final norm's weights scale the result (the classifier's input); false:
    /// the RMS-normalised residual alone (for a classifier whose norm weights are folded into it, as after a rotation).</param>
    public void ForwardHidden(ReadOnlySpan<int> tokens, Span<float> hidden, bool finalNormWeights = true)
    {
        int dim = _hp.Dim;
        CheckTokens(tokens);
        if (hidden.Length < tokens.Length * dim) throw new ArgumentException($"hidden buffer has {hidden.Length} floats, needs {tokens.Length * dim}", nameof(hidden));
        for (int start = 0; start < tokens.Length; start += _maxBatch)
        {
            int n = Math.Min(_maxBatch, tokens.Length - start);
            ForwardBatch(tokens.Slice(start, n));
            RmsNormRows(_x.AsSpan(0, n * dim), finalNormWeights ? _model.OutputNorm : _unitNorm ??= Enumerable.Repeat(1f, dim).ToArray(),
                hidden.Slice(start * dim, n * dim), n);
        }
    }

    private float[]? _unitNorm;

    private void CheckTokens(ReadOnlySpan<int> tokens)
    {
        int vocab = _hp.VocabSize;
        if (tokens.Length == 0) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        if (Position + tokens.Length > ContextLength)
            throw new InvalidOperationException($"{tokens.Length} more tokens at position {Position} exceed the context of {ContextLength}");
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary [0, {vocab})");
    }

    private void ForwardBatch(ReadOnlySpan<int> tokens)
    {
        int n = tokens.Length, dim = _hp.Dim;
        var x = _x.AsSpan(0, n * dim);
        var emb = _model.TokenEmbedding;
        // One row per token; quantized embeddings (llama.cpp's Q6_K/Q4_K token_embd) are dequantized by the same call.
        for (int i = 0; i < n; i++)
            FloatConversion.ToFloat32(emb.DType, emb.RowBytes(tokens[i]), x.Slice(i * dim, dim));
        _layer.ScaleEmbeddings(x);

        for (int i = 0; i < n; i++) _positions[i] = Position + i;
        int qDim = _hp.QDim, hidden = _hp.HiddenDim;
        var xn = _xn.AsSpan(0, n * dim);
        for (int l = 0; l < _hp.NumLayers; l++)
        {
            var w = _model.Layers[l];
            _layer.AttentionNorm(x, w, xn, n);
            Observe(LinearInputGroup.AttentionInput, l, xn, n, dim);
            _layer.QueryKeyValue(l, xn, n, w, w.Wq, w.Wk, w.Wv, _q, _k, _v, _positions.AsSpan(0, n));
            StoreInCache(_k, l, keys: true, n);
            StoreInCache(_v, l, keys: false, n);
            Attention(l, n);
            Observe(LinearInputGroup.AttentionOutput, l, _attn, n, qDim);
            _layer.AttentionOutput(_attn, n, w, w.Wo, _proj, x);

            _layer.MlpNorm(x, w, xn, n);
            if (w.Experts is { } experts)
            {
                if (MatMulObserver is { } o)
                {
                    o.OnMatMulInput(_hp.Architecture.GgufNaming.Name(TensorRole.Router, l), xn, n, dim);
                    _observedLayer = l;
                    _layer.MixtureOfExperts(xn, n, experts, x, _expertObserver ??= ObserveExpert(experts.Count));
                }
                else _layer.MixtureOfExperts(xn, n, experts, x);
                continue;
            }
            Observe(LinearInputGroup.MlpInput, l, xn, n, dim);
            _layer.MlpHidden(xn, n, w.WGate, w.WUp, _gate, _up);
            Observe(LinearInputGroup.MlpHidden, l, _gate, n, hidden);
            _layer.MlpOutput(_gate, n, w, w.WDown, _proj, x);
        }
        Position += n;
        _lastBatch = n;
    }

    private int _lastBatch;

    private void ComputeLogits(int firstRow, int rows, Span<float> dst)
    {
        if (firstRow + rows > _lastBatch) throw new InvalidOperationException("logits requested for rows outside the last batch");
        int dim = _hp.Dim;
        RmsNormRows(_x.AsSpan(firstRow * dim, rows * dim), _model.OutputNorm, _xn, rows);
        // A classifier tied to the embedding is the tensor token_embd.weight, as in llama.cpp's graph.
        MatMulObserver?.OnMatMulInput(_model.Output.Name == _model.TokenEmbedding.Name ? LlamaGgufNames.TokenEmbedding : LlamaGgufNames.Output,
            _xn.AsSpan(0, rows * dim), rows, dim);
        MatMul.Multiply(_xn.AsSpan(0, rows * dim), rows, _model.Output, dst);
    }

    private void RmsNormRows(ReadOnlySpan<float> x, float[] weight, Span<float> dst, int rows)
        => LlamaLayerOps.RmsNormRows(x, weight, _hp.RmsNormEps, dst, rows, _hp.Dim);

    // Arguments of the attention call in progress, read by AttentionItem on the kernel workers.
    private int _attnLayer, _attnTokens;
    private Action<int>? _attentionItem;

    /// <summary>
    /// Query tokens per prefill attention job: the block's key and value rows are read (and, for an
    /// fp16 cache, widened to fp32) once for all its tokens instead of once per token; small enough
    /// that a 512-token prefill still has hundreds of jobs to balance over the cores.
    /// </summary>
    internal const int DefaultAttentionBlock = 8;

    private readonly int _attentionBlock = DefaultAttentionBlock;

    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>A session whose prefill attention jobs take <paramref name="attentionBlock"/> tokens (tests compare block sizes bit for bit).</summary>
    internal InferenceSession(LlamaModel model, int? contextLength, int maxBatch, KvCacheType kvCache, int attentionBlock)
        : this(model, contextLength, maxBatch, kvCache)
    {
        if (attentionBlock < 1) throw new ArgumentOutOfRangeException(nameof(attentionBlock), attentionBlock, "at least one token per attention job");
        _attentionBlock = attentionBlock;
    }

    private void Attention(int layer, int n)
    {
        _attnLayer = layer;
        _attnTokens = n;
        int pairsPerGroup = (_hp.NumHeads / _hp.NumKvHeads + 1) / 2;
        int blocks = (n + _attentionBlock - 1) / _attentionBlock;
        WorkerPool.Run(_hp.NumKvHeads * pairsPerGroup * blocks, KernelOptions.EffectiveThreads, _attentionItem ??= AttentionItem);
    }

    /// <summary>One (head pair, block of consecutive tokens): scores over the cached keys, softmax, weighted sum of values.</summary>
    private void AttentionItem(int job)
    {
        // One job = up to two query heads of one KV group at up to _attentionBlock tokens: the pair
        // reads each cached key and value row once per block (AttentionOps.CausalBlock gives every
        // head and token the bits of a one-token, one-head call).
        int n = _attnTokens, hd = _hp.HeadDim, qDim = _hp.QDim;
        int group = _hp.NumHeads / _hp.NumKvHeads, pairs = (group + 1) / 2;
        int blocks = (n + _attentionBlock - 1) / _attentionBlock;
        float scale = _hp.AttentionScale;
        int t0 = job % blocks * _attentionBlock, pair = job / blocks;
        int tokens = Math.Min(_attentionBlock, n - t0);
        int kvh = pair / pairs, h = kvh * group + 2 * (pair % pairs);
        int queries = Math.Min(2, kvh * group + group - h);
        int end = Position + t0 + 1;
        // With a sliding window a query sees only the last W positions, itself included; the block's
        // first token sees the fewest, its later tokens one more key each (and drop one at the front).
        int? window = _hp.WindowOf(_attnLayer);
        int first = window is { } w ? Math.Max(0, end - w) : 0;
        int visible = end - first, rows = visible + tokens - 1;
        int need = AttentionOps.CausalBlockScratch(rows, _attentionBlock, 2, hd);
        if (t_scratch is null || t_scratch.Length < need)
            t_scratch = new float[Math.Max(need, AttentionOps.CausalBlockScratch(Math.Min(2 * rows, ContextLength), _attentionBlock, 2, hd))];
        int qLength = (tokens - 1) * qDim + queries * hd;
        var q = new ReadOnlySpan<float>(_q, t0 * qDim + h * hd, qLength);
        var output = new Span<float>(_attn, t0 * qDim + h * hd, qLength);
        int headBase = (kvh * ContextLength + first) * hd;
        if (_keyCache16 is { } k16)
            AttentionOps.CausalBlock(q, qDim, tokens, queries, hd, new ReadOnlySpan<Half>(k16[_attnLayer], headBase, rows * hd),
                new ReadOnlySpan<Half>(_valueCache16![_attnLayer], headBase, rows * hd), hd, visible, window ?? int.MaxValue, scale, output, qDim, t_scratch);
        else
            AttentionOps.CausalBlock(q, qDim, tokens, queries, hd, new ReadOnlySpan<float>(_keyCache![_attnLayer], headBase, rows * hd),
                new ReadOnlySpan<float>(_valueCache![_attnLayer], headBase, rows * hd), hd, visible, window ?? int.MaxValue, scale, output, qDim, t_scratch);
    }

    /// <summary>Rows [n, kvDim] of new keys or values into layer <paramref name="layer"/>'s cache, per-head layout, at the current position (rounded to fp16 for an fp16 cache).</summary>
    private void StoreInCache(float[] rows, int layer, bool keys, int n)
    {
        int hd = _hp.HeadDim, kvDim = _hp.KvDim;
        var cache32 = keys ? _keyCache?[layer] : _valueCache?[layer];
        var cache16 = keys ? _keyCache16?[layer] : _valueCache16?[layer];
        for (int kvh = 0; kvh < _hp.NumKvHeads; kvh++)
        {
            int dst = (kvh * ContextLength + Position) * hd;
            for (int t = 0; t < n; t++)
            {
                var row = rows.AsSpan(t * kvDim + kvh * hd, hd);
                if (cache16 != null) FloatConversion.Float32ToF16(row, cache16.AsSpan(dst + t * hd, hd));
                else row.CopyTo(cache32.AsSpan(dst + t * hd, hd));
            }
        }
    }

    private DecoderLayerForward.ExpertObserver? _expertObserver;
    private int _observedLayer;

    // Expert inputs to the matmul observer under the stacked tensors' GGUF names (what llama-imatrix sees).
    private DecoderLayerForward.ExpertObserver ObserveExpert(int count) => (expert, group, rows, n, width) =>
    {
        foreach (var role in ExpertWeights.RolesReading(group))
            MatMulObserver?.OnExpertMatMulInput(_hp.Architecture.GgufNaming.Name(role, _observedLayer), expert, count, rows, n, width);
    };

    /// <summary>
    /// Shows the matmul observer the input of every linear of <paramref name="group"/> (by GGUF tensor name, as
    /// llama-imatrix names them); a fused tensor (phi3's attn_qkv) is one matmul there, so it is shown once.
    /// </summary>
    private void Observe(LinearInputGroup group, int layer, ReadOnlySpan<float> input, int n, int width)
    {
        if (MatMulObserver is not { } o) return;
        var naming = _hp.Architecture.GgufNaming;
        foreach (var linear in _hp.Architecture.LinearsReading(group))
            if (naming.IsFirstPart(linear.Role())) o.OnMatMulInput(naming.Name(linear.Role(), layer), input[..(n * width)], n, width);
    }
}
