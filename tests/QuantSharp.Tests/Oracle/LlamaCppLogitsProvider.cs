// llama.cpp as an ILogitsProvider, so perplexity is computed by the same code for both engines.
using QuantSharp.Evaluation;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.Oracle;

internal sealed class LlamaCppLogitsProvider(LlamaCppContext context) : ILogitsProvider
{
    public int VocabSize => context.VocabSize;

    public void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits) => context.Evaluate(tokens).CopyTo(logits);
}
