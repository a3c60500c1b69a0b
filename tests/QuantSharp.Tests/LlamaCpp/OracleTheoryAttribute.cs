// [OracleTheory]: a data-driven test that needs llama.cpp; skipped locally when it is not installed, failed in CI.
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.LlamaCpp;

/// <summary>The <see cref="TheoryAttribute"/> counterpart of <see cref="OracleFactAttribute"/>.</summary>
public sealed class OracleTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the oracle is absent outside CI.</summary>
    public OracleTheoryAttribute()
    {
        if (!LlamaCppLibrary.IsAvailable && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
            Skip = $"llama.cpp {LlamaCppLibrary.Build} not installed at '{LlamaCppLibrary.ExpectedDirectory()}'; run .ci/install-llama-cpp.sh (or set {LlamaCppLibrary.DirectoryVariable})";
    }
}
