// [TokenizerOracleTheory]: a test that needs llama.cpp and the real tokenizer files; skipped locally when absent, failed in CI.
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// Like <see cref="LlamaCpp.OracleTheoryAttribute"/>, for tests that also read the real tokenizer.json
/// files of <see cref="RealTokenizerFiles"/>: skipped with instructions when either is missing,
/// unless the CI environment variable is set, where the test runs and fails on what is missing.
/// </summary>
public sealed class TokenizerOracleTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the oracle or the tokenizer files are absent outside CI.</summary>
    public TokenizerOracleTheoryAttribute()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))) return;
        if (!LlamaCppLibrary.IsAvailable)
            Skip = $"llama.cpp {LlamaCppLibrary.Build} not installed at '{LlamaCppLibrary.ExpectedDirectory()}'; run .ci/install-llama-cpp.sh (or set {LlamaCppLibrary.DirectoryVariable})";
        else if (!RealTokenizerFiles.AreInstalled)
            Skip = $"real tokenizer files not installed under '{Path.GetDirectoryName(Path.GetDirectoryName(RealTokenizerFiles.Folder("qwen3")))}'; run .ci/install-tokenizers.sh";
    }
}
