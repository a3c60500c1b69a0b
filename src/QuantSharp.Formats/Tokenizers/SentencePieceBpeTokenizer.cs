// SentencePiece-style BPE (Llama-2, Mistral) loaded from a Hugging Face tokenizer.json: "▁" for spaces, byte fallback.
using System.Text;
using System.Text.Json;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// BPE over code points with "▁" standing for spaces, as HF tokenizers runs a converted SentencePiece
/// model: added tokens are split out first; each remaining segment is normalized (Prepend "▁" and
/// Replace " " → "▁", or the Metaspace pre-tokenizer), code points missing from the vocabulary become
/// &lt;0xNN&gt; byte tokens (byte_fallback) or unk, and pieces merge by merge rank. Decoding follows
/// the usual Replace("▁", " ") → ByteFallback → Fuse → Strip(" ", n) decoder chain.
/// </summary>
public sealed class SentencePieceBpeTokenizer : ITextTokenizer
{
    private const char Meta = '\u2581';
    private const int MaxCachedLength = 64;
    private const int MaxCacheEntries = 100_000;

    private readonly HfTokenizerJson _json;
    private readonly string[] _idToToken;
    private readonly int[] _byteTokenValue; // id -> byte for <0xNN> tokens, else -1
    private readonly int[] _byteToId = new int[256];
    private readonly BpeMerger _merger;
    private readonly AddedTokenMatcher _added;
    private readonly bool _normalizerPrepend;
    private readonly bool _normalizerReplace;
    private readonly string? _metaspacePrepend; // "always", "first", "never"; null without a Metaspace pre-tokenizer
    private readonly bool _metaspaceSplit;
    private readonly int _stripLeading;
    private readonly int _unkId;
    private readonly Dictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private readonly Lock _cacheLock = new();

    private SentencePieceBpeTokenizer(HfTokenizerJson json)
    {
        _json = json;
        if (json.ModelType != "BPE") throw json.Bad($"model type \"{json.ModelType}\" is not BPE");
        VocabSize = json.IdCount;
        _idToToken = new string[VocabSize];
        foreach (var (text, id) in json.Vocab) _idToToken[id] ??= text;
        foreach (var t in json.AddedTokens) _idToToken[t.Id] = t.Content;

        _byteTokenValue = new int[VocabSize];
        Array.Fill(_byteTokenValue, -1);
        Array.Fill(_byteToId, -1);
        for (int b = 0; b < 256; b++)
        {
            if (json.Vocab.TryGetValue($"<0x{b:X2}>", out int id))
            {
                _byteToId[b] = id;
                _byteTokenValue[id] = b;
            }
        }
        _unkId = json.UnkToken is not null && json.Vocab.TryGetValue(json.UnkToken, out int unk) ? unk : -1;
        _merger = new BpeMerger(json.Vocab, json.Merges, json.Path);
        _added = new AddedTokenMatcher(json.AddedTokens);
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        foreach (var n in HfTokenizerJson.Flatten(json.Normalizer))
        {
            switch (HfTokenizerJson.TypeOf(n))
            {
                case "Prepend" when n.TryGetProperty("prepend", out var p) && Str(p) == "\u2581":
                    _normalizerPrepend = true;
                    break;
                case "Replace" when IsSpaceToMeta(n):
                    _normalizerReplace = true;
                    break;
                case var other:
                    throw json.Bad($"normalizer \"{other ?? n.GetRawText()}\" is not supported with SentencePiece-style BPE");
            }
        }
        foreach (var p in HfTokenizerJson.Flatten(json.PreTokenizer))
        {
            if (IsSplitOnSpace(p))
            {
                // Gemma's Split(" "): it runs after the normalizer has turned every space into "▁",
                // so it never finds anything to split on. Without that normalizer it would matter.
                if (!_normalizerReplace) throw json.Bad("a Split(\" \") pre-tokenizer without a Replace(\" \", \"▁\") normalizer is not supported");
                continue;
            }
            if (HfTokenizerJson.TypeOf(p) != "Metaspace") throw json.Bad($"pre-tokenizer \"{HfTokenizerJson.TypeOf(p) ?? p.GetRawText()}\" is not supported with SentencePiece-style BPE");
            if (p.TryGetProperty("replacement", out var r) && Str(r) != "\u2581") throw json.Bad("Metaspace with a replacement other than \"▁\" is not supported");
            // Older files say add_prefix_space instead of prepend_scheme.
            _metaspacePrepend = p.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String ? ps.GetString()
                : p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False ? "never" : "always";
            _metaspaceSplit = !p.TryGetProperty("split", out var sp) || sp.ValueKind != JsonValueKind.False;
        }
        if (!_normalizerReplace && _metaspacePrepend is null) throw json.Bad("neither a Replace(\" \", \"▁\") normalizer nor a Metaspace pre-tokenizer: not a SentencePiece-style BPE");
        _stripLeading = LeadingSpacesStrippedByDecoder(json, json.Decoder);

        BosId = json.IdOf(json.ConfigBosToken) ?? json.IdOf("<s>");
        EosId = json.IdOf(json.ConfigEosToken) ?? json.IdOf("</s>");
    }

    /// <summary>Loads a tokenizer.json (and the tokenizer_config.json beside it, for BOS/EOS).</summary>
    public static SentencePieceBpeTokenizer Load(string tokenizerJsonPath) => new(HfTokenizerJson.Load(tokenizerJsonPath));

    /// <summary>Builds the tokenizer from an already parsed file.</summary>
    public static SentencePieceBpeTokenizer FromJson(HfTokenizerJson json) => new(json);

    /// <summary>Whether a parsed tokenizer.json looks like SentencePiece-style BPE ("▁" normalizer or Metaspace).</summary>
    public static bool IsSentencePieceStyle(HfTokenizerJson json)
    {
        foreach (var n in HfTokenizerJson.Flatten(json.Normalizer))
        {
            if (HfTokenizerJson.TypeOf(n) == "Replace" && IsSpaceToMeta(n)) return true;
        }
        foreach (var p in HfTokenizerJson.Flatten(json.PreTokenizer))
        {
            if (HfTokenizerJson.TypeOf(p) == "Metaspace") return true;
        }
        return false;
    }

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <summary>The text of a token as the vocabulary writes it.</summary>
    public string TokenText(int id) => _idToToken[id] ?? throw new ArgumentOutOfRangeException(nameof(id), id, "No token has this id.");

    /// <inheritdoc/>
    public int[] Encode(string text, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 2 + 4);
        if (addBos) ids.Add(BosId ?? throw new InvalidOperationException($"{_json.Path}: the tokenizer has no BOS token."));
        var segments = new List<AddedTokenMatcher.Piece>();
        _added.Split(text, segments);
        foreach (var seg in segments)
        {
            if (seg.Token is not null)
            {
                ids.Add(seg.Token.Id);
                continue;
            }
            string normalized = Normalize(text.AsSpan(seg.Start, seg.Length), isFirst: seg.Start == 0);
            if (_metaspacePrepend is not null && _metaspaceSplit)
            {
                // Metaspace splits before every "▁" (the delimiter starts the next word).
                int start = 0;
                for (int i = 1; i <= normalized.Length; i++)
                {
                    if (i == normalized.Length || normalized[i] == Meta)
                    {
                        EncodeWord(normalized.AsSpan(start, i - start), ids);
                        start = i;
                    }
                }
            }
            else
            {
                EncodeWord(normalized, ids);
            }
        }
        if (addEos) ids.Add(EosId ?? throw new InvalidOperationException($"{_json.Path}: the tokenizer has no EOS token."));
        return ids.ToArray();
    }

    private string Normalize(ReadOnlySpan<char> segment, bool isFirst)
    {
        if (segment.IsEmpty) return "";
        string s = _normalizerReplace || _metaspacePrepend is not null ? segment.ToString().Replace(' ', Meta) : segment.ToString();
        // The Prepend normalizer always adds "▁" (Llama-2's legacy behaviour, so " a" becomes "▁▁a");
        // Metaspace only adds it when the piece does not already start with one.
        if (_normalizerPrepend) s = Meta + s;
        if (_metaspacePrepend is "always" || _metaspacePrepend is "first" && isFirst)
        {
            if (s[0] != Meta) s = Meta + s;
        }
        return s;
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.IsEmpty) return;
        if (word.Length <= MaxCachedLength)
        {
            lock (_cacheLock)
            {
                if (_cacheBySpan.TryGetValue(word, out var hit))
                {
                    ids.AddRange(hit);
                    return;
                }
            }
        }

        int[] result;
        if (_json.IgnoreMerges && _json.Vocab.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(word, out int whole))
        {
            result = [whole];
        }
        else
        {
            var symbols = new List<int>(word.Length);
            var vocab = _json.Vocab.GetAlternateLookup<ReadOnlySpan<char>>();
            Span<byte> utf8 = stackalloc byte[4];
            for (int i = 0; i < word.Length;)
            {
                int width = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
                var cp = word.Slice(i, width);
                i += width;
                if (vocab.TryGetValue(cp, out int id))
                {
                    symbols.Add(id);
                    continue;
                }
                if (_json.ByteFallback && TryByteTokens(cp, utf8, symbols)) continue;
                if (_unkId < 0) continue; // HF drops the character when there is no unk token
                // fuse_unk: a run of unknown characters is one unk.
                if (_json.FuseUnk && symbols.Count > 0 && symbols[^1] == _unkId) continue;
                symbols.Add(_unkId);
            }
            result = _merger.Merge(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols));
        }

        if (word.Length <= MaxCachedLength)
        {
            lock (_cacheLock)
            {
                if (_cache.Count >= MaxCacheEntries) _cache.Clear();
                _cacheBySpan.TryAdd(word, result);
            }
        }
        ids.AddRange(result);
    }

    // All UTF-8 bytes of the code point as <0xNN> tokens, or nothing when one of them is missing.
    private bool TryByteTokens(ReadOnlySpan<char> codePoint, Span<byte> utf8, List<int> symbols)
    {
        int n = Encoding.UTF8.GetBytes(codePoint, utf8);
        for (int k = 0; k < n; k++)
        {
            if (_byteToId[utf8[k]] < 0) return false;
        }
        for (int k = 0; k < n; k++) symbols.Add(_byteToId[utf8[k]]);
        return true;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var text = new StringBuilder();
        var pending = new List<byte>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token ids run from 0 to {VocabSize - 1}.");
            if (_byteTokenValue[id] >= 0)
            {
                pending.Add((byte)_byteTokenValue[id]);
                continue;
            }
            FlushBytes(pending, text);
            text.Append((_idToToken[id] ?? "").Replace(Meta, ' '));
        }
        FlushBytes(pending, text);
        int strip = 0;
        while (strip < _stripLeading && strip < text.Length && text[strip] == ' ') strip++;
        return text.ToString(strip, text.Length - strip);
    }

    // HF's ByteFallback decoder: a run of byte tokens that is not valid UTF-8 becomes one U+FFFD per byte.
    private static void FlushBytes(List<byte> pending, StringBuilder text)
    {
        if (pending.Count == 0) return;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending);
        if (System.Text.Unicode.Utf8.IsValid(span)) text.Append(Encoding.UTF8.GetString(span));
        else text.Append('\uFFFD', pending.Count);
        pending.Clear();
    }

    /// <summary>
    /// The token's bytes with "▁" as a space and &lt;0xNN&gt; as byte NN. At the start of a stream
    /// (<paramref name="previous"/> null or BOS) the decoder's leading-space strip applies.
    /// </summary>
    public byte[] TokenBytes(int id, int? previous = null)
    {
        if ((uint)id >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {VocabSize - 1}.");
        if (_byteTokenValue[id] >= 0) return [(byte)_byteTokenValue[id]];
        string text = (_idToToken[id] ?? "").Replace(Meta, ' ');
        if (previous is null || previous == BosId)
        {
            int strip = 0;
            while (strip < _stripLeading && strip < text.Length && text[strip] == ' ') strip++;
            text = text[strip..];
        }
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>
    /// GGUF "llama" (SPM) vocabulary. HF's BPE has no scores, so each token scores minus the rank of
    /// the first merge that produces it: llama.cpp's SPM tokenizer merges the highest-scoring pair,
    /// which then is the lowest-ranked merge, as here. Tokens no merge produces score below all merges.
    /// </summary>
    public TokenizerData ToTokenizerData()
    {
        var tokens = new string[VocabSize];
        var types = new GgufTokenType[VocabSize];
        var scores = new float[VocabSize];
        Array.Fill(scores, float.NaN);
        for (int rank = 0; rank < _json.Merges.Count; rank++)
        {
            int id = _json.Vocab[_json.Merges[rank].Left + _json.Merges[rank].Right];
            if (float.IsNaN(scores[id])) scores[id] = -rank;
        }
        for (int id = 0; id < VocabSize; id++)
        {
            string? text = _idToToken[id];
            tokens[id] = text ?? $"[PAD{id}]";
            types[id] = text is null ? GgufTokenType.Unused
                : id == _unkId ? GgufTokenType.Unknown
                : _byteTokenValue[id] >= 0 ? GgufTokenType.Byte
                : GgufTokenType.Normal;
            if (float.IsNaN(scores[id])) scores[id] = text is not null && text.Length == 1 ? 0f : -1e9f;
        }
        foreach (var t in _json.AddedTokens)
        {
            if (t.Id == _unkId) continue;
            types[t.Id] = t.Special ? GgufTokenType.Control : GgufTokenType.UserDefined;
            // Added tokens that merges also build (Gemma's "▁▁", "\n\n") keep their merge score: llama.cpp's
            // SPM merger reaches them by concatenation too, and must do so exactly when HF's BPE would.
            if (scores[t.Id] <= -1e9f || t.Content.Length == 1) scores[t.Id] = 0f;
        }
        return new TokenizerData(
            Model: "llama",
            Pre: null,
            Tokens: tokens,
            Scores: scores,
            TokenTypes: types,
            Merges: null,
            BosId: BosId,
            EosId: EosId,
            UnknownId: _unkId >= 0 ? _unkId : null,
            PaddingId: null,
            AddBos: _json.ConfigAddBos ?? _json.PostProcessorAddsBos(),
            AddEos: false,
            AddSpacePrefix: _normalizerPrepend || _metaspacePrepend is "always" or "first");
    }

    private static bool IsSplitOnSpace(JsonElement split) =>
        HfTokenizerJson.TypeOf(split) == "Split"
        && split.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object
        && p.TryGetProperty("String", out var s) && s.GetString() == " ";

    private static bool IsSpaceToMeta(JsonElement replace) =>
        replace.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object
        && p.TryGetProperty("String", out var s) && Str(s) == " "
        && replace.TryGetProperty("content", out var c) && Str(c) == "\u2581";

    // A JSON string's value, or null for any other kind: GetString on a number throws
    // InvalidOperationException, which would escape the loader's InvalidDataException contract.
    private static string? Str(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    // Strip(" ", start) in the decoder chain, or a Metaspace decoder that prepends (it drops the first space).
    private static int LeadingSpacesStrippedByDecoder(HfTokenizerJson json, JsonElement decoder)
    {
        foreach (var d in HfTokenizerJson.Flatten(decoder))
        {
            switch (HfTokenizerJson.TypeOf(d))
            {
                case "Strip" when d.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() == " " && d.TryGetProperty("start", out var s) && s.ValueKind == JsonValueKind.Number:
                    // A count of leading spaces: GetInt32 would throw FormatException for 1e12 or 1.5.
                    return s.TryGetInt32(out int n) && n >= 0 ? n : throw json.Bad($"decoder Strip \"start\" is {s.GetRawText()}; expected a count from 0 to {int.MaxValue}");
                case "Metaspace":
                    bool prepends = d.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String
                        ? ps.GetString() != "never"
                        : !(d.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False);
                    return prepends ? 1 : 0;
            }
        }
        return 0;
    }
}
