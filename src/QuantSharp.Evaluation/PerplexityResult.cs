// The outcome of a perplexity run.
namespace QuantSharp.Evaluation;

/// <summary>Perplexity with its uncertainty.</summary>
/// <param name="Perplexity">exp(mean negative log-likelihood).</param>
/// <param name="StandardError">Standard error of the perplexity (delta method on the mean NLL, as llama.cpp reports it).</param>
/// <param name="MeanNll">Mean negative log-likelihood (nats).</param>
/// <param name="ScoredTokens">Number of predictions scored.</param>
/// <param name="Windows">Number of windows (or documents) evaluated.</param>
public sealed record PerplexityResult(double Perplexity, double StandardError, double MeanNll, long ScoredTokens, int Windows)
{
    /// <summary>Half-width of the 95% confidence interval.</summary>
    public double Confidence95 => 1.96 * StandardError;

    /// <inheritdoc/>
    public override string ToString() => $"PPL {Perplexity:F4} ± {StandardError:F4} ({ScoredTokens} tokens, {Windows} windows)";
}
