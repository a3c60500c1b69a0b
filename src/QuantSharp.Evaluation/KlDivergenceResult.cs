// What was lost against the base model, llama.cpp's --kl-divergence statistics.
namespace QuantSharp.Evaluation;

/// <summary>KL-divergence and agreement statistics of a model against saved base log-probabilities.</summary>
/// <param name="MeanKld">Mean KL(base ‖ model) in nats.</param>
/// <param name="KldStandardError">Standard error of the mean KLD.</param>
/// <param name="MaxKld">Largest per-token KLD.</param>
/// <param name="MeanDeltaP">Mean of p_model(correct) − p_base(correct).</param>
/// <param name="RmsDeltaP">Root mean square of that difference.</param>
/// <param name="SameTopTokenRate">Fraction of positions where both models' argmax agree.</param>
/// <param name="BasePerplexity">Perplexity of the base model on the same positions.</param>
/// <param name="ModelPerplexity">Perplexity of the evaluated model.</param>
/// <param name="Positions">Positions compared.</param>
public sealed record KlDivergenceResult(
    double MeanKld, double KldStandardError, double MaxKld,
    double MeanDeltaP, double RmsDeltaP, double SameTopTokenRate,
    PerplexityResult BasePerplexity, PerplexityResult ModelPerplexity, long Positions);
