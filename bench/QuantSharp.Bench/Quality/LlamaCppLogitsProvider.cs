// llama.cpp as an ILogitsProvider, so that both engines are scored by the same perplexity and KL-divergence code.
using QuantSharp.Evaluation;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Bench.Quality;

/// <summary>Evaluates each window with a llama.cpp context from an empty KV cache.</summary>
internal sealed class LlamaCppLogitsProvider(LlamaCppContext context) : ILogitsProvider
{
    public int VocabSize => context.VocabSize;

    public void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits) => context.Evaluate(tokens).CopyTo(logits);
}
