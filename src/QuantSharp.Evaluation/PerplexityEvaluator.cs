// Perplexity in the GPTQ and llama.cpp conventions, and over separate documents.
namespace QuantSharp.Evaluation;

/// <summary>Computes perplexity of token streams with any <see cref="ILogitsProvider"/>.</summary>
public sealed class PerplexityEvaluator(ILogitsProvider provider)
{
    /// <summary>Reports (windows done, windows total) after each window.</summary>
    public IProgress<(int Done, int Total)>? Progress { get; init; }

    /// <summary>
    /// Perplexity of one long token stream.
    /// </summary>
    /// <param name="tokens">The whole text, tokenized once.</param>
    /// <param name="contextLength">Window length n_ctx.</param>
    /// <param name="style">Which convention.</param>
    /// <param name="bosId">llama.cpp style: the BOS id written over each window's first token, or null when the vocabulary adds no BOS.</param>
    /// <param name="maxWindows">Stop after this many windows (null: all).</param>
    public PerplexityResult Evaluate(ReadOnlySpan<int> tokens, int contextLength, PerplexityStyle style, int? bosId = null, int? maxWindows = null)
    {
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength), "the window must hold at least 2 tokens");
        int windows = tokens.Length / contextLength;
        if (maxWindows is { } mw) windows = Math.Min(windows, mw);
        if (windows == 0) throw new ArgumentException($"the text has {tokens.Length} tokens, fewer than one window of {contextLength}");
        int vocab = provider.VocabSize;
        var logits = new float[contextLength * vocab];
        var window = new int[contextLength];
        var acc = new NllAccumulator();
        // llama.cpp scores predictions made from positions [n_ctx/2, n_ctx-1); GPTQ from [0, n_ctx-1).
        int first = style == PerplexityStyle.LlamaCpp ? contextLength / 2 : 0;
        for (int w = 0; w < windows; w++)
        {
            tokens.Slice(w * contextLength, contextLength).CopyTo(window);
            if (style == PerplexityStyle.LlamaCpp && bosId is { } bos) window[0] = bos;
            provider.EvaluateWindow(window, logits);
            for (int j = first; j < contextLength - 1; j++)
                acc.Add(-LogSoftmax.LogProbability(logits.AsSpan(j * vocab, vocab), tokens[w * contextLength + j + 1]));
            Progress?.Report((w + 1, windows));
        }
        return acc.Result(windows);
    }

    /// <summary>
    /// Perplexity over separate documents, each evaluated from an empty context with every
    /// predicted token scored (documents longer than <paramref name="contextLength"/> are cut).
    /// </summary>
    public PerplexityResult EvaluateDocuments(IReadOnlyList<int[]> documents, int contextLength)
    {
        int vocab = provider.VocabSize;
        var logits = new float[contextLength * vocab];
        var acc = new NllAccumulator();
        int done = 0;
        foreach (var doc in documents)
        {
            int n = Math.Min(doc.Length, contextLength);
            if (n >= 2)
            {
                provider.EvaluateWindow(doc.AsSpan(0, n), logits.AsSpan(0, n * vocab));
                for (int j = 0; j < n - 1; j++)
                    acc.Add(-LogSoftmax.LogProbability(logits.AsSpan(j * vocab, vocab), doc[j + 1]));
            }
            Progress?.Report((++done, documents.Count));
        }
        return acc.Result(documents.Count);
    }
}
