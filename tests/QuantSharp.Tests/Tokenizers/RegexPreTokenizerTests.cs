// Pre-token splits of the GPT-2 and Llama-3 patterns on tricky text, including letters and digits outside the BMP.
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// Expected splits follow the patterns by hand (alternatives tried left to right, first that matches
/// wins, \s+(?!\S) leaves the last space for the next word) and were cross-checked with Python's
/// "regex" module, which matches on code points as HF's Rust engines do.
/// </summary>
public class RegexPreTokenizerTests
{
    private static string[] Split(string pattern, string text)
    {
        var pieces = new List<(int Start, int Length)>();
        new RegexPreTokenizer(pattern).Split(text, pieces);
        var result = new string[pieces.Count];
        for (int i = 0; i < pieces.Count; i++) result[i] = text.Substring(pieces[i].Start, pieces[i].Length);
        return result;
    }

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("I'm can't we'll they've she'd you're it's", new[] { "I", "'m", " can", "'t", " we", "'ll", " they", "'ve", " she", "'d", " you", "'re", " it", "'s" })]
    [InlineData("123 4567 x1y2", new[] { "123", " 4567", " x", "1", "y", "2" })]
    [InlineData("a  b   c", new[] { "a", " ", " b", "  ", " c" })]
    [InlineData("line\n\nnext\n", new[] { "line", "\n", "\n", "next", "\n" })]
    [InlineData("trailing   ", new[] { "trailing", "   " })]
    [InlineData("x  \n  y", new[] { "x", "  \n ", " y" })]
    [InlineData("Don't STOP!!", new[] { "Don", "'t", " STOP", "!!" })]
    [InlineData("'S 'T", new[] { "'", "S", " '", "T" })] // GPT-2's contractions are case-sensitive
    [InlineData("\tTab\r\n", new[] { "\t", "Tab", "\r\n" })]
    [InlineData("é\u00a0b", new[] { "é", "\u00a0", "b" })] // NBSP is whitespace but not " "
    [InlineData("a\u3000 b", new[] { "a", "\u3000", " b" })]
    public void Gpt2Pattern(string text, string[] expected)
    {
        Assert.Equal(expected, Split(RegexPreTokenizer.Gpt2Pattern, text));
    }

    [Fact]
    public void Gpt2PatternTreatsSupplementaryLettersAndDigitsAsCodePoints()
    {
        // U+1D400 (bold A) is a letter and U+1D7CF (bold 1) a digit; as UTF-16 surrogates .NET would
        // call both "other" and split "a𝐀" in two and glue "𝐀!" together.
        Assert.Equal(["a\U0001D400", " 1\U0001D7CF", " \U0001D400", "!", "x"], Split(RegexPreTokenizer.Gpt2Pattern, "a\U0001D400 1\U0001D7CF \U0001D400!x"));
        // Emoji really are "other" (So).
        Assert.Equal(["emoji", " \U0001F600\U0001F44D\U0001F3FD!"], Split(RegexPreTokenizer.Gpt2Pattern, "emoji \U0001F600\U0001F44D\U0001F3FD!"));
    }

    [Fact]
    public void Llama3Pattern()
    {
        Assert.Equal(["I", "'M", " ", "123", "45", " hello", "\n\n", " ", " world", "!!\n"], Split(RegexPreTokenizer.Llama3Pattern, "I'M 12345 hello\n\n  world!!\n"));
        // \p{N}{1,3} counts code points, not UTF-16 units.
        Assert.Equal(["\U0001D7CF\U0001D7D0\U0001D7D1", "\U0001D7D2", "x"], Split(RegexPreTokenizer.Llama3Pattern, "\U0001D7CF\U0001D7D0\U0001D7D1\U0001D7D2x"));
        Assert.Equal(["'LL"], Split(RegexPreTokenizer.Llama3Pattern, "'LL"));
    }

    [Fact]
    public void PiecesCoverTheText()
    {
        string text = "  leading, trailing  \n\n\t mixed 42x \U0001F600 end ";
        Assert.Equal(text, string.Concat(Split(RegexPreTokenizer.Gpt2Pattern, text)));
        Assert.Equal(text, string.Concat(Split(RegexPreTokenizer.Llama3Pattern, text)));
    }
}
