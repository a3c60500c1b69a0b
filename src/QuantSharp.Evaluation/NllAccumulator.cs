// Running sums of negative log-likelihoods, turned into perplexity and its standard error.
namespace QuantSharp.Evaluation;

/// <summary>Accumulates NLL and NLL² in double precision.</summary>
public sealed class NllAccumulator
{
    private double _sum, _sumSq;

    /// <summary>Predictions added.</summary>
    public long Count { get; private set; }

    /// <summary>Adds one prediction's negative log-likelihood.</summary>
    public void Add(double nll)
    {
        _sum += nll;
        _sumSq += nll * nll;
        Count++;
    }

    /// <summary>The perplexity so far.</summary>
    public PerplexityResult Result(int windows)
    {
        if (Count == 0) throw new InvalidOperationException("no tokens were scored: the text is shorter than one window");
        double mean = _sum / Count;
        double variance = Count > 1 ? Math.Max(0, _sumSq / Count - mean * mean) : 0;
        double ppl = Math.Exp(mean);
        double stderr = Count > 1 ? Math.Sqrt(variance / (Count - 1)) * ppl : 0;
        return new PerplexityResult(ppl, stderr, mean, Count, windows);
    }
}
