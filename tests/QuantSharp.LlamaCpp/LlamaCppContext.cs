// A llama.cpp inference context: full-sequence logits, single-token decode and greedy generation.
namespace QuantSharp.LlamaCpp;

/// <summary>
/// One sequence of llama.cpp inference state (KV cache). <see cref="Evaluate"/> starts from an
/// empty cache each time, so results do not depend on earlier calls; <see cref="DecodeNext"/>
/// continues the current sequence (for timing one token at a time).
/// </summary>
public sealed unsafe class LlamaCppContext : IDisposable
{
    private readonly LlamaCppModel _model;
    private IntPtr _ctx;
    private LlamaBatch _batch;
    private int _position;

    internal LlamaCppContext(LlamaCppModel model, int contextLength, int batchSize, int threads, bool f32Cache)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _model = model;
        var p = LlamaNative.llama_context_default_params();
        p.NCtx = (uint)contextLength;
        p.NBatch = (uint)batchSize;
        // One physical batch per logical batch keeps evaluation in a single graph per call.
        p.NUbatch = (uint)batchSize;
        p.NSeqMax = 1;
        p.NThreads = threads;
        p.NThreadsBatch = threads;
        if (f32Cache)
        {
            // llama.cpp's default F16 KV cache rounds keys and values; F32 makes it an exact oracle. Flash attention
            // must be off as well: its graph casts F32 keys and values to F16 (llama-graph's build_attn_mha), and
            // "auto" turns it on for the CPU, so an F32 cache alone still gave F16-rounded attention.
            p.TypeK = 0;
            p.TypeV = 0;
            p.FlashAttnType = 0;
        }
        _ctx = LlamaNative.llama_init_from_model(model.Handle, p);
        if (_ctx == IntPtr.Zero)
            throw new InvalidOperationException($"llama.cpp could not create a context (n_ctx {contextLength}, n_batch {batchSize}) for '{model.Path}'");
        ContextLength = (int)LlamaNative.llama_n_ctx(_ctx);
        BatchSize = (int)LlamaNative.llama_n_batch(_ctx);
        _batch = LlamaNative.llama_batch_init(BatchSize, 0, 1);
    }

    /// <summary>The context length llama.cpp actually allocated (it may round up).</summary>
    public int ContextLength { get; }
    /// <summary>Most tokens per decode call.</summary>
    public int BatchSize { get; }
    /// <summary>Vocabulary size, the length of one logits row.</summary>
    public int VocabSize => _model.VocabSize;
    /// <summary>Tokens in the current sequence.</summary>
    public int Position => _position;

    private IntPtr Handle => _ctx != IntPtr.Zero ? _ctx : throw new ObjectDisposedException(nameof(LlamaCppContext));

    /// <summary>Empties the KV cache; the next decode starts at position 0.</summary>
    public void ClearMemory()
    {
        LlamaNative.llama_memory_clear(LlamaNative.llama_get_memory(Handle), 1);
        _position = 0;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> from an empty cache and returns logits for every position:
    /// row i (length <see cref="VocabSize"/>) predicts the token after tokens[i].
    /// </summary>
    public float[] Evaluate(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        if (tokens.Length > ContextLength) throw new ArgumentException($"{tokens.Length} tokens exceed the context length {ContextLength}", nameof(tokens));
        ClearMemory();
        var logits = new float[checked(tokens.Length * VocabSize)];
        for (int start = 0; start < tokens.Length; start += BatchSize)
        {
            int n = Math.Min(BatchSize, tokens.Length - start);
            Decode(tokens.Slice(start, n), allLogits: true);
            new ReadOnlySpan<float>(LlamaNative.llama_get_logits(_ctx), n * VocabSize).CopyTo(logits.AsSpan(start * VocabSize));
        }
        return logits;
    }

    /// <summary>Decodes one token at the current position and returns its logits row.</summary>
    public float[] DecodeNext(int token)
    {
        Decode([token], allLogits: true);
        return new ReadOnlySpan<float>(LlamaNative.llama_get_logits(_ctx), VocabSize).ToArray();
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> from an empty cache computing logits for the last token only
    /// (what llama-bench times as prompt processing) and returns them.
    /// </summary>
    public float[] Prefill(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        ClearMemory();
        for (int start = 0; start < tokens.Length; start += BatchSize)
        {
            int n = Math.Min(BatchSize, tokens.Length - start);
            Decode(tokens.Slice(start, n), allLogits: false);
        }
        return new ReadOnlySpan<float>(LlamaNative.llama_get_logits_ith(_ctx, -1), VocabSize).ToArray();
    }

    /// <summary>
    /// Greedy (argmax, lowest id on ties) continuation of <paramref name="prompt"/> from an empty
    /// cache: up to <paramref name="count"/> tokens, stopping after an end-of-generation token
    /// when <paramref name="stopAtEndOfGeneration"/>.
    /// </summary>
    public int[] GreedyGenerate(ReadOnlySpan<int> prompt, int count, bool stopAtEndOfGeneration = true)
    {
        if (prompt.Length == 0) throw new ArgumentException("empty prompt", nameof(prompt));
        var all = Evaluate(prompt);
        var last = all.AsSpan((prompt.Length - 1) * VocabSize, VocabSize).ToArray();
        var output = new List<int>(count);
        for (int i = 0; i < count; i++)
        {
            int next = ArgMax(last);
            output.Add(next);
            if (stopAtEndOfGeneration && _model.IsEndOfGeneration(next)) break;
            if (i + 1 < count) last = DecodeNext(next);
        }
        return output.ToArray();
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private void Decode(ReadOnlySpan<int> tokens, bool allLogits)
    {
        if (tokens.Length > BatchSize) throw new ArgumentException($"{tokens.Length} tokens exceed the batch size {BatchSize}");
        if (_position + tokens.Length > ContextLength) throw new InvalidOperationException($"context full: {_position} + {tokens.Length} > {ContextLength}");
        var handle = Handle;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i], $"token id outside the vocabulary of {VocabSize}");
            _batch.Token[i] = tokens[i];
            _batch.Pos[i] = _position + i;
            _batch.NSeqId[i] = 1;
            _batch.SeqId[i][0] = 0;
            _batch.Logits[i] = (sbyte)(allLogits || i == tokens.Length - 1 ? 1 : 0);
        }
        _batch.NTokens = tokens.Length;
        int rc = LlamaNative.llama_decode(handle, _batch);
        if (rc != 0) throw new InvalidOperationException($"llama_decode returned {rc} for {tokens.Length} tokens at position {_position}");
        LlamaNative.llama_synchronize(handle);
        _position += tokens.Length;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ctx == IntPtr.Zero) return;
        LlamaNative.llama_batch_free(_batch);
        LlamaNative.llama_free(_ctx);
        _ctx = IntPtr.Zero;
    }
}
