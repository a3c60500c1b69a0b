// Numerically careful log-probabilities of one row of logits.
namespace QuantSharp.Evaluation;

/// <summary>Log-softmax helpers (max subtracted, sum of exponentials in double, as llama.cpp does).</summary>
public static class LogSoftmax
{
    /// <summary>log p(token) under softmax(<paramref name="logits"/>).</summary>
    public static double LogProbability(ReadOnlySpan<float> logits, int token)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return logits[token] - max - Math.Log(sum);
    }

    /// <summary>Writes all log-probabilities of <paramref name="logits"/> into <paramref name="dst"/>.</summary>
    public static void All(ReadOnlySpan<float> logits, Span<double> dst)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        double logSum = Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) dst[i] = logits[i] - max - logSum;
    }
}
