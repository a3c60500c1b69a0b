// Splits text into pre-tokens with a tokenizer's split regex, matching on code points as HF's Rust regex engine does.
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Regex pre-tokenizer with HF's "Isolated" behaviour: every match is a pre-token and so is every
/// stretch of text between matches. .NET regexes run over UTF-16 code units, so a letter or digit
/// outside the BMP (a surrogate pair, category Cs to .NET) would not match <c>\p{L}</c>/<c>\p{N}</c>
/// as it does for Oniguruma/Rust on code points; such text is matched on a copy where each surrogate
/// pair is replaced by one BMP stand-in of the same class, and match positions are mapped back.
/// </summary>
public sealed partial class RegexPreTokenizer
{
    /// <summary>GPT-2's pattern (HF's ByteLevel pre-tokenizer with use_regex = true).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's pattern (a Split pre-tokenizer in its tokenizer.json).</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pattern (like Llama-3's but one digit per pre-token).</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Stand-ins for supplementary code points: a letter (Lo), a decimal digit (Nd), a symbol (So).
    private const char LetterStandIn = '\u4E00';
    private const char NumberStandIn = '\u0660';
    private const char OtherStandIn = '\u2603';

    private readonly Regex _regex;

    /// <summary>Compiles <paramref name="pattern"/>.</summary>
    public RegexPreTokenizer(string pattern)
    {
        Pattern = pattern;
        // The well-known patterns are source-generated (no regex compilation or IL emission at load);
        // CultureInvariant keeps (?i:...) independent of the current culture, like the Rust engine.
        _regex = pattern switch
        {
            Gpt2Pattern => Gpt2Regex(),
            Llama3Pattern => Llama3Regex(),
            _ => new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant),
        };
    }

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>Appends the pre-tokens of <paramref name="text"/> as (start, length) pairs to <paramref name="pieces"/>.</summary>
    public void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        if (text.ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            SplitWithSurrogates(text, pieces);
            return;
        }
        int last = 0;
        foreach (var m in _regex.EnumerateMatches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > last) pieces.Add((last, m.Index - last));
            pieces.Add((m.Index, m.Length));
            last = m.Index + m.Length;
        }
        if (last < text.Length) pieces.Add((last, text.Length - last));
    }

    [GeneratedRegex(Gpt2Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2Regex();

    [GeneratedRegex(Llama3Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Llama3Regex();

    private void SplitWithSurrogates(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        var copy = new char[text.Length];
        var origin = new int[text.Length + 1]; // copy index -> text index
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            origin[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var rune = new Rune(text[i], text[i + 1]);
                copy[n++] = StandIn(Rune.GetUnicodeCategory(rune));
                i++;
            }
            else
            {
                // Lone surrogates stay: .NET sees category Cs, which is what "other" means here too.
                copy[n++] = text[i];
            }
        }
        origin[n] = text.Length;

        int last = 0;
        foreach (var m in _regex.EnumerateMatches(copy.AsSpan(0, n)))
        {
            if (m.Length == 0) continue;
            int start = origin[m.Index], end = origin[m.Index + m.Length];
            if (start > last) pieces.Add((last, start - last));
            pieces.Add((start, end - start));
            last = end;
        }
        if (last < text.Length) pieces.Add((last, text.Length - last));
    }

    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => LetterStandIn,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => NumberStandIn,
        _ => OtherStandIn,
    };
}
