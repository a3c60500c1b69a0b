// The perplexity conventions we report.
namespace QuantSharp.Evaluation;

/// <summary>How a text is cut into windows and which tokens are scored.</summary>
public enum PerplexityStyle
{
    /// <summary>GPTQ/AutoGPTQ: non-overlapping windows of n_ctx, every predicted token scored (the first token of a window is context only).</summary>
    Gptq,
    /// <summary>llama.cpp: windows of n_ctx, the first token replaced by BOS when the vocabulary adds one, only the second half scored.</summary>
    LlamaCpp,
}
