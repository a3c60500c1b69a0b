// Placeholder (superseded by the tokenizer branch).
namespace QuantSharp.Formats.Tokenizers;

/// <summary>Loads tokenizers.</summary>
public static class TokenizerLoader
{
    /// <summary>Loads a tokenizer.</summary>
    public static ITextTokenizer Load(string path) => throw new NotImplementedException(path);
}
