// A GGUF "llama" (SentencePiece) vocabulary encoded exactly as llama.cpp's SPM tokenizer does (Llama-2, Gemma).
using System.Text;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// llama.cpp's SPM tokenizer over tokenizer.ggml.* data: control, user-defined and unknown tokens
/// are cut out of the text first (longest token first, each everywhere, as llama.cpp's
/// <c>tokenizer_st_partition</c> does with parse_special on); each remaining fragment gets "▁" for
/// spaces (and one leading "▁" when add_space_prefix is set and a special token or the start of the
/// text precedes it), starts as one symbol per code point, and adjacent symbols whose concatenation
/// is a token merge, highest token score first and leftmost on ties. Symbols that are not tokens
/// become their UTF-8 bytes as &lt;0xNN&gt; tokens.
/// </summary>
/// <remarks>
/// Decoding turns "▁" into a space in every token, user-defined ones included (llama.cpp's converter
/// writes those with spaces already, a vocabulary written from tokenizer.json keeps HF's "▁"), byte
/// tokens into bytes, and drops control tokens and, with add_space_prefix, the text's first space.
/// </remarks>
public sealed class GgufSpmTokenizer : ITextTokenizer
{
    private const char Meta = '\u2581';

    private readonly TokenizerData _data;
    private readonly string _origin;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _textToId;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int[] _byteToId = new int[256];
    private readonly int[] _byteValue; // id -> byte for <0xNN> tokens, else -1
    private readonly byte[][] _tokenBytes;
    private readonly int[] _specials; // control, user-defined and unknown ids, longest text first
    private readonly int _unkId;
    private readonly bool[] _control; // control type, or a text llama.cpp promotes to control

    [ThreadStatic] private static PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>? _queue;

    private GgufSpmTokenizer(TokenizerData data, string origin)
    {
        _data = data;
        _origin = origin;
        int n = data.Tokens.Count;
        if (data.Scores is null) throw new InvalidDataException($"{origin}: a llama (SentencePiece) tokenizer needs tokenizer.ggml.scores");
        if (data.Scores.Count != n) throw new InvalidDataException($"{origin}: tokenizer.ggml.scores has {data.Scores.Count} entries for {n} tokens");
        if (data.TokenTypes.Count != n) throw new InvalidDataException($"{origin}: tokenizer.ggml.token_type has {data.TokenTypes.Count} entries for {n} tokens");
        _scores = data.Scores.ToArray();

        _textToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        // llama.cpp fills its text-to-id map in id order, so the last of two equal texts wins.
        for (int i = 0; i < n; i++) _textToId[TokenText(data, i)] = i;
        _lookup = _textToId.GetAlternateLookup<ReadOnlySpan<char>>();

        Array.Fill(_byteToId, -1);
        _byteValue = new int[n];
        Array.Fill(_byteValue, -1);
        for (int i = 0; i < n; i++)
        {
            if (data.TokenTypes[i] == GgufTokenType.Byte && TryParseByteToken(data.Tokens[i], out byte b))
            {
                _byteValue[i] = b;
                if (_byteToId[b] < 0) _byteToId[b] = i;
            }
        }

        var specials = new List<int>();
        for (int i = 0; i < n; i++)
        {
            if (data.Tokens[i].Length == 0) continue;
            if (data.TokenTypes[i] is GgufTokenType.Control or GgufTokenType.UserDefined or GgufTokenType.Unknown || LlamaCppControlTexts.Contains(data.Tokens[i])) specials.Add(i);
        }
        // Longest first, as llama.cpp sorts them; equal lengths keep id order.
        _specials = specials.OrderByDescending(i => Encoding.UTF8.GetByteCount(data.Tokens[i])).ThenBy(i => i).ToArray();

        _tokenBytes = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            _tokenBytes[i] = _byteValue[i] >= 0 ? [(byte)_byteValue[i]] : Encoding.UTF8.GetBytes(data.Tokens[i].Replace(Meta, ' '));
        }
        _unkId = data.UnknownId ?? -1;
        _control = new bool[n];
        for (int i = 0; i < n; i++) _control[i] = data.TokenTypes[i] == GgufTokenType.Control || LlamaCppControlTexts.Contains(data.Tokens[i]);
    }

    /// <summary>Builds the tokenizer; <paramref name="origin"/> (the GGUF path) names it in errors.</summary>
    public static GgufSpmTokenizer Create(TokenizerData data, string origin)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Model != "llama") throw new NotSupportedException($"{origin}: tokenizer.ggml.model '{data.Model}' is not a SentencePiece ('llama') vocabulary");
        return new GgufSpmTokenizer(data, origin);
    }

    /// <inheritdoc/>
    public int VocabSize => _data.Tokens.Count;

    /// <inheritdoc/>
    public int? BosId => _data.BosId;

    /// <inheritdoc/>
    public int? EosId => _data.EosId;

    /// <summary>Whether llama.cpp prepends a space to text at the start and after special tokens.</summary>
    public bool AddSpacePrefix => _data.AddSpacePrefix;

    /// <inheritdoc/>
    public int[] Encode(string text, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        // llama.cpp sees UTF-8, where a lone surrogate can only have arrived as U+FFFD.
        if (text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        var ids = new List<int>(text.Length / 3 + 4);
        if (addBos) ids.Add(BosId ?? throw new InvalidOperationException($"{_origin}: the tokenizer has no BOS token."));

        bool previousIsSpecial = true;
        var scratch = new StringBuilder();
        foreach (var (start, length, token) in Partition(text))
        {
            if (token >= 0)
            {
                ids.Add(token);
                previousIsSpecial = true;
                continue;
            }
            scratch.Clear();
            if (_data.AddSpacePrefix && previousIsSpecial) scratch.Append(Meta);
            scratch.Append(text, start, length).Replace(' ', Meta);
            EncodeFragment(scratch.ToString(), ids);
            previousIsSpecial = false;
        }

        if (addEos) ids.Add(EosId ?? throw new InvalidOperationException($"{_origin}: the tokenizer has no EOS token."));
        return ids.ToArray();
    }

    // Fragments (start, length, -1) of ordinary text and (start, length, id) of special tokens, in text order.
    private List<(int Start, int Length, int Token)> Partition(string text)
    {
        var fragments = new List<(int Start, int Length, int Token)>();
        if (text.Length > 0) fragments.Add((0, text.Length, -1));
        var next = new List<(int Start, int Length, int Token)>();
        foreach (int id in _specials)
        {
            string special = _data.Tokens[id];
            next.Clear();
            bool found = false;
            foreach (var f in fragments)
            {
                if (f.Token >= 0)
                {
                    next.Add(f);
                    continue;
                }
                int pos = f.Start, end = f.Start + f.Length;
                while (pos < end)
                {
                    int hit = text.AsSpan(pos, end - pos).IndexOf(special, StringComparison.Ordinal);
                    if (hit < 0) break;
                    found = true;
                    if (hit > 0) next.Add((pos, hit, -1));
                    next.Add((pos + hit, special.Length, id));
                    pos += hit + special.Length;
                }
                if (pos < end) next.Add((pos, end - pos, -1));
            }
            if (found) (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    private void EncodeFragment(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        // Symbols are code points: start and length (in chars) plus a doubly linked list of the live ones.
        int count = 0;
        var start = new int[text.Length];
        var length = new int[text.Length];
        for (int i = 0; i < text.Length; count++)
        {
            int width = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            start[count] = i;
            length[count] = width;
            i += width;
        }
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var queue = _queue ??= new PriorityQueue<(int, int, int), (float, int)>(HighestScoreThenLeftmost.Instance);
        queue.Clear();
        for (int i = 1; i < count; i++) TryAddBigram(text, start, length, i - 1, i, queue);

        while (queue.TryDequeue(out var bigram, out _))
        {
            var (left, right, size) = bigram;
            // Stale: one side has been merged away or has grown since the pair was queued.
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != size) continue;
            length[left] += length[right];
            length[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            if (prev[left] >= 0) TryAddBigram(text, start, length, prev[left], left, queue);
            if (next[left] >= 0) TryAddBigram(text, start, length, left, next[left], queue);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i >= 0 && count > 0; i = next[i])
        {
            var piece = text.AsSpan(start[i], length[i]);
            if (_lookup.TryGetValue(piece, out int id))
            {
                ids.Add(id);
                continue;
            }
            // Only single code points can be unknown here (merged symbols are tokens by construction).
            int n = Encoding.UTF8.GetBytes(piece, utf8);
            for (int k = 0; k < n; k++)
            {
                int b = _byteToId[utf8[k]];
                if (b >= 0) ids.Add(b);
                else if (_unkId >= 0) ids.Add(_unkId);
            }
        }
    }

    private void TryAddBigram(string text, int[] start, int[] length, int left, int right, PriorityQueue<(int, int, int), (float, int)> queue)
    {
        int size = length[left] + length[right];
        if (!_lookup.TryGetValue(text.AsSpan(start[left], size), out int id)) return;
        queue.Enqueue((left, right, size), (_scores[id], left));
    }

    /// <summary>
    /// Decodes ids to text, control tokens as their text; with add_space_prefix the text's first
    /// space, the one encoding added, is dropped (as HF's Strip decoder does for the same vocabularies).
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        int? previous = BosId; // the first token is at the start of the text, as after BOS
        foreach (int id in ids)
        {
            // Control tokens read as their text here (as HF decodes without skipping special tokens).
            if ((uint)id < (uint)VocabSize && _control[id]) bytes.AddRange(Encoding.UTF8.GetBytes(_data.Tokens[id]));
            else bytes.AddRange(TokenBytes(id, previous));
            previous = id;
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>
    /// The token's bytes for streaming output: "▁" as a space, &lt;0xNN&gt; as byte NN, nothing for
    /// control tokens (as llama.cpp's token_to_piece without special and llama2.c print them). With
    /// add_space_prefix the first token after BOS loses its leading space, the one encoding added.
    /// </summary>
    public byte[] TokenBytes(int id, int? previous = null)
    {
        if ((uint)id >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {VocabSize - 1}.");
        if (_control[id]) return [];
        var bytes = _tokenBytes[id];
        if (_data.AddSpacePrefix && previous is not null && previous == BosId && bytes.Length > 0 && bytes[0] == (byte)' ' && _byteValue[id] < 0)
            return bytes[1..];
        return bytes;
    }

    /// <inheritdoc/>
    public TokenizerData ToTokenizerData() => _data;

    // llama.cpp names empty tokens "[EMPTY_<id>]" so that every text is distinct.
    private static string TokenText(TokenizerData data, int id) => data.Tokens[id].Length == 0 ? $"[EMPTY_{id}]" : data.Tokens[id];

    private static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }

    private sealed class HighestScoreThenLeftmost : IComparer<(float Score, int Left)>
    {
        public static readonly HighestScoreThenLeftmost Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            int c = y.Score.CompareTo(x.Score);
            return c != 0 ? c : x.Left.CompareTo(y.Left);
        }
    }
}
