// KL-divergence, Δp and same-top-token rate of a model against a base model's saved log-probabilities.
namespace QuantSharp.Evaluation;

/// <summary>Compares a model with the base model whose log-probabilities were saved with <see cref="SavedLogits.Save"/>.</summary>
public sealed class KlDivergenceEvaluator(ILogitsProvider provider)
{
    /// <summary>Reports (windows done, windows total).</summary>
    public IProgress<(int Done, int Total)>? Progress { get; init; }

    /// <summary>Runs the model on the saved windows and compares position by position.</summary>
    public KlDivergenceResult Evaluate(SavedLogits baseLogits)
    {
        int vocab = provider.VocabSize, ctx = baseLogits.ContextLength;
        if (vocab != baseLogits.VocabSize)
            throw new InvalidDataException($"the base logits have vocabulary {baseLogits.VocabSize} but the model has {vocab}");
        var logits = new float[ctx * vocab];
        var baseLp = new double[vocab];
        var lp = new double[vocab];
        var basePpl = new NllAccumulator();
        var modelPpl = new NllAccumulator();
        double kldSum = 0, kldSq = 0, kldMax = 0, dpSum = 0, dpSq = 0;
        long n = 0, sameTop = 0;
        for (int w = 0; w < baseLogits.Windows; w++)
        {
            var win = baseLogits.Tokens.AsSpan(w * ctx, ctx);
            provider.EvaluateWindow(win, logits);
            for (int r = 0; r < baseLogits.ScoredPerWindow; r++)
            {
                int j = baseLogits.FirstScored + r;
                int target = win[j + 1];
                baseLogits.ReadRow(w, r, baseLp);
                LogSoftmax.All(logits.AsSpan(j * vocab, vocab), lp);
                double kld = 0;
                int argBase = 0, argModel = 0;
                for (int i = 0; i < vocab; i++)
                {
                    double pb = Math.Exp(baseLp[i]);
                    kld += pb * (baseLp[i] - lp[i]);
                    if (baseLp[i] > baseLp[argBase]) argBase = i;
                    if (lp[i] > lp[argModel]) argModel = i;
                }
                kld = Math.Max(0, kld);
                kldSum += kld; kldSq += kld * kld; kldMax = Math.Max(kldMax, kld);
                double dp = Math.Exp(lp[target]) - Math.Exp(baseLp[target]);
                dpSum += dp; dpSq += dp * dp;
                if (argBase == argModel) sameTop++;
                basePpl.Add(-baseLp[target]);
                modelPpl.Add(-lp[target]);
                n++;
            }
            Progress?.Report((w + 1, baseLogits.Windows));
        }
        double mean = kldSum / n;
        double stderr = n > 1 ? Math.Sqrt(Math.Max(0, kldSq / n - mean * mean) / (n - 1)) : 0;
        return new KlDivergenceResult(mean, stderr, kldMax, dpSum / n, Math.Sqrt(dpSq / n), (double)sameTop / n,
            basePpl.Result(baseLogits.Windows), modelPpl.Result(baseLogits.Windows), n);
    }
}
