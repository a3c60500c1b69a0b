// Splits text on added tokens the way HF tokenizers' AddedVocabulary does, before normalization and pre-tokenization.
using System.Buffers;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Finds added tokens in text: leftmost match first, longest token on ties (HF uses an Aho-Corasick
/// automaton with LeftmostLongest), honouring lstrip/rstrip (whitespace beside the token is swallowed)
/// and single_word (the match must not touch word characters on either side).
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly SearchValues<string>? _search;
    private readonly Dictionary<char, HfAddedToken[]> _byFirstChar = new();

    public AddedTokenMatcher(IReadOnlyList<HfAddedToken> tokens)
    {
        var contents = new List<string>();
        var groups = new Dictionary<char, List<HfAddedToken>>();
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            contents.Add(t.Content);
            if (!groups.TryGetValue(t.Content[0], out var list)) groups[t.Content[0]] = list = new List<HfAddedToken>();
            list.Add(t);
        }
        foreach (var (c, list) in groups)
        {
            // Longest first so the first hit at a position is the longest one.
            list.Sort((a, b) => b.Content.Length.CompareTo(a.Content.Length));
            _byFirstChar[c] = list.ToArray();
        }
        if (contents.Count > 0) _search = SearchValues.Create(contents.ToArray(), StringComparison.Ordinal);
    }

    /// <summary>A piece of the split: ordinary text (Token null) or one added token.</summary>
    public readonly record struct Piece(int Start, int Length, HfAddedToken? Token);

    /// <summary>Splits <paramref name="text"/> into ordinary text and added tokens; empty text pieces are dropped.</summary>
    public void Split(string text, List<Piece> pieces)
    {
        pieces.Clear();
        int textStart = 0; // start of the pending ordinary text
        int searchFrom = 0;
        while (_search is not null && searchFrom < text.Length)
        {
            int rel = text.AsSpan(searchFrom).IndexOfAny(_search);
            if (rel < 0) break;
            int at = searchFrom + rel;
            HfAddedToken? hit = null;
            foreach (var t in _byFirstChar[text[at]])
            {
                if (at + t.Content.Length <= text.Length
                    && string.CompareOrdinal(text, at, t.Content, 0, t.Content.Length) == 0
                    && (!t.SingleWord || IsWordBoundary(text, at, at + t.Content.Length)))
                {
                    hit = t;
                    break;
                }
            }
            if (hit is null)
            {
                searchFrom = at + 1;
                continue;
            }

            int start = at, end = at + hit.Content.Length;
            if (hit.LStrip)
            {
                while (start > textStart && char.IsWhiteSpace(text[start - 1])) start--;
            }
            if (hit.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            }
            if (start > textStart) pieces.Add(new Piece(textStart, start - textStart, null));
            pieces.Add(new Piece(start, end - start, hit));
            textStart = searchFrom = end;
        }
        if (textStart < text.Length) pieces.Add(new Piece(textStart, text.Length - textStart, null));
    }

    private static bool IsWordBoundary(string text, int start, int end)
    {
        bool leftOk = start == 0 || !char.IsLetterOrDigit(text[start - 1]) && text[start - 1] != '_';
        bool rightOk = end == text.Length || !char.IsLetterOrDigit(text[end]) && text[end] != '_';
        return leftOk && rightOk;
    }
}
