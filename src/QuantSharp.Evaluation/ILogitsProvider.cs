// Anything that turns a token window into next-token logits: our engine, or llama.cpp as an oracle.
namespace QuantSharp.Evaluation;

/// <summary>Evaluates a whole window from an empty context and returns logits for every position.</summary>
public interface ILogitsProvider
{
    /// <summary>Vocabulary size (logits per position).</summary>
    int VocabSize { get; }

    /// <summary>Writes logits [tokens.Length, VocabSize] for <paramref name="tokens"/> evaluated from position 0.</summary>
    void EvaluateWindow(ReadOnlySpan<int> tokens, Span<float> logits);
}
