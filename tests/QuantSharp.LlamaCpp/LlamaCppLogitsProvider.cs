// llama.cpp as an ILogitsProvider, so that both engines are scored by the same perplexity and KL-divergence code.
using QuantSharp.Evaluation;

namespace QuantSharp.LlamaCpp;

/// <summary>Evaluates each window with a llama.cpp context from an empty KV cache.</summary>
public sealed class LlamaCppLogitsProvider(LlamaCppContext context) : ILogitsProvider
{
    /// <inheritdoc/>
    public int VocabSize => context.VocabSize;

    /// <inheritdoc/>
    public void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits) => context.Evaluate(tokens).CopyTo(logits);
}
