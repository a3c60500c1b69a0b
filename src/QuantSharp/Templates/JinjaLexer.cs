// Splits a Jinja template into text, expression and statement tokens (chat-template subset, HF's whitespace rules).
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantSharp.Templates;

internal enum TokenKind { Text, ExprOpen, ExprClose, StmtOpen, StmtClose, Name, String, Integer, Float, Op, End }

internal readonly record struct JinjaToken(TokenKind Kind, string Value, int Line);

/// <summary>
/// Tokenizer of templates. Whitespace handling is transformers': trim_blocks and lstrip_blocks on, one trailing
/// newline dropped, <c>-</c> markers strip whitespace on their side; {% generation %} tags are removed.
/// </summary>
internal static partial class JinjaLexer
{
    [GeneratedRegex(@"^[ \t]*({[#%-])", RegexOptions.Multiline)] private static partial Regex LstripBlocks();
    [GeneratedRegex(@"([#%-]})\n")] private static partial Regex TrimBlocks();
    [GeneratedRegex(@"(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)", RegexOptions.Singleline)] private static partial Regex GenerationTags();

    private static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "~"];

    public static List<JinjaToken> Tokenize(string template)
    {
        string src = template.EndsWith('\n') ? template[..^1] : template;
        src = LstripBlocks().Replace(src, "$1");
        src = TrimBlocks().Replace(src, "$1");
        src = GenerationTags().Replace(src, m => (m.Groups[2].Value == "-" ? "" : m.Groups[1].Value) + (m.Groups[3].Value == "-" ? "" : m.Groups[4].Value));
        var tokens = new List<JinjaToken>();
        int i = 0, line = 1;
        bool stripNextText = false;
        while (i < src.Length)
        {
            int open = NextTag(src, i);
            int textEnd = open < 0 ? src.Length : open;
            string text = src[i..textEnd];
            if (stripNextText) text = text.TrimStart();
            bool leftStrip = open >= 0 && open + 2 < src.Length && src[open + 2] == '-';
            if (leftStrip) text = text.TrimEnd();
            if (text.Length > 0) tokens.Add(new JinjaToken(TokenKind.Text, text, line));
            line += Count(src, i, textEnd);
            stripNextText = false;
            if (open < 0) break;
            char kind = src[open + 1];
            i = open + 2 + (leftStrip ? 1 : 0);
            if (kind == '#')
            {
                int close = src.IndexOf("#}", i, StringComparison.Ordinal);
                if (close < 0) throw new JinjaException($"line {line}: comment not closed with #}}");
                stripNextText = close > i && src[close - 1] == '-';
                line += Count(src, i, close);
                i = close + 2;
                continue;
            }
            tokens.Add(new JinjaToken(kind == '{' ? TokenKind.ExprOpen : TokenKind.StmtOpen, "", line));
            string closer = kind == '{' ? "}}" : "%}";
            i = LexInside(src, i, closer, tokens, ref line, out stripNextText);
            tokens.Add(new JinjaToken(kind == '{' ? TokenKind.ExprClose : TokenKind.StmtClose, "", line));
        }
        tokens.Add(new JinjaToken(TokenKind.End, "", line));
        return tokens;
    }

    private static int NextTag(string s, int from)
    {
        for (int i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
            if (s[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private static int Count(string s, int from, int to)
    {
        int n = 0;
        for (int k = from; k < to; k++) if (s[k] == '\n') n++;
        return n;
    }

    /// <summary>Lexes an expression or statement body up to its closer; returns the index after the closer.</summary>
    private static int LexInside(string s, int i, string closer, List<JinjaToken> tokens, ref int line, out bool stripAfter)
    {
        int depth = 0;
        while (true)
        {
            if (i >= s.Length) throw new JinjaException($"line {line}: tag not closed with {closer}");
            char c = s[i];
            if (c == '\n') { line++; i++; continue; }
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (depth == 0 && c == '-' && string.CompareOrdinal(s, i + 1, closer, 0, 2) == 0) { stripAfter = true; return i + 3; }
            if (depth == 0 && string.CompareOrdinal(s, i, closer, 0, 2) == 0) { stripAfter = false; return i + 2; }
            if (c is '"' or '\'')
            {
                var sb = new StringBuilder();
                int k = i + 1;
                for (; k < s.Length && s[k] != c; k++)
                {
                    if (s[k] == '\\' && k + 1 < s.Length)
                    {
                        k++;
                        sb.Append(s[k] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', 'v' => '\v', '0' => '\0', var o => o });
                        continue;
                    }
                    if (s[k] == '\n') line++;
                    sb.Append(s[k]);
                }
                if (k >= s.Length) throw new JinjaException($"line {line}: string literal not closed");
                tokens.Add(new JinjaToken(TokenKind.String, sb.ToString(), line));
                i = k + 1;
                continue;
            }
            if (char.IsDigit(c))
            {
                int k = i;
                while (k < s.Length && (char.IsDigit(s[k]) || s[k] == '_')) k++;
                bool isFloat = k + 1 < s.Length && s[k] == '.' && char.IsDigit(s[k + 1]);
                if (isFloat) { k++; while (k < s.Length && char.IsDigit(s[k])) k++; }
                string num = s[i..k].Replace("_", "");
                tokens.Add(new JinjaToken(isFloat ? TokenKind.Float : TokenKind.Integer, num, line));
                i = k;
                continue;
            }
            if (char.IsLetter(c) || c == '_')
            {
                int k = i;
                while (k < s.Length && (char.IsLetterOrDigit(s[k]) || s[k] == '_')) k++;
                tokens.Add(new JinjaToken(TokenKind.Name, s[i..k], line));
                i = k;
                continue;
            }
            string? op = null;
            foreach (var o in Operators)
                if (string.CompareOrdinal(s, i, o, 0, o.Length) == 0) { op = o; break; }
            if (op is null) throw new JinjaException($"line {line}: unexpected character '{c}'");
            if (op is "(" or "[" or "{") depth++;
            else if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
            tokens.Add(new JinjaToken(TokenKind.Op, op, line));
            i += op.Length;
        }
    }

    public static object ParseNumber(JinjaToken t) => t.Kind == TokenKind.Integer
        ? (object)long.Parse(t.Value, CultureInfo.InvariantCulture)
        : (object)double.Parse(t.Value, CultureInfo.InvariantCulture);
}
