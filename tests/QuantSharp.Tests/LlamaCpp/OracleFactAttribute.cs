// [OracleFact]: a test that needs llama.cpp; skipped locally when it is not installed, failed in CI.
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.LlamaCpp;

/// <summary>
/// Marks a test that calls the llama.cpp oracle. When the libraries are missing the test is
/// skipped with instructions, unless the CI environment variable is set: there a missing oracle
/// must not pass silently, so the test runs and fails with the loader's message.
/// </summary>
public sealed class OracleFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the oracle is absent outside CI.</summary>
    public OracleFactAttribute()
    {
        if (!LlamaCppLibrary.IsAvailable && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
            Skip = $"llama.cpp {LlamaCppLibrary.Build} not installed at '{LlamaCppLibrary.ExpectedDirectory()}'; run .ci/install-llama-cpp.sh (or set {LlamaCppLibrary.DirectoryVariable})";
    }
}
