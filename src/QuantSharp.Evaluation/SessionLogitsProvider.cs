// Our CPU engine as an ILogitsProvider.
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Evaluation;

/// <summary>Evaluates windows with an <see cref="InferenceSession"/> (KV cache cleared per window; fp32 unless <paramref name="kvCache"/> says otherwise).</summary>
public sealed class SessionLogitsProvider(LlamaModel model, int contextLength, KvCacheType kvCache = KvCacheType.F32) : ILogitsProvider
{
    private readonly InferenceSession _session = new(model, contextLength, maxBatch: contextLength, kvCache);

    /// <inheritdoc/>
    public int VocabSize => model.Parameters.VocabSize;

    /// <inheritdoc/>
    public void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        _session.Reset();
        _session.Forward(tokens, logits, allLogits: true);
    }
}
