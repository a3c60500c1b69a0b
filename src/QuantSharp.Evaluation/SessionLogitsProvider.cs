// Our CPU engine as an ILogitsProvider.
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Evaluation;

/// <summary>Evaluates windows with an <see cref="InferenceSession"/> (KV cache cleared per window).</summary>
public sealed class SessionLogitsProvider(LlamaModel model, int contextLength) : ILogitsProvider
{
    private readonly InferenceSession _session = new(model, contextLength, maxBatch: contextLength);

    /// <inheritdoc/>
    public int VocabSize => model.Parameters.VocabSize;

    /// <inheritdoc/>
    public void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        _session.Reset();
        _session.Forward(tokens, logits, allLogits: true);
    }
}
