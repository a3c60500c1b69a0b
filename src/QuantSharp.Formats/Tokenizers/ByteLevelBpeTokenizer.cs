// Byte-level BPE (GPT-2, Llama-3, Qwen) loaded from a Hugging Face tokenizer.json, encoding exactly as HF tokenizers does.
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Byte-level BPE: added tokens are split out first, the rest is cut into pre-tokens by the split
/// regex(es), each pre-token's UTF-8 bytes are mapped to GPT-2's printable characters and merged by
/// merge rank; decoding maps the characters back to bytes.
/// </summary>
/// <remarks>
/// Written by hand rather than on Microsoft.ML.Tokenizers: its CodeGenTokenizer fixes the GPT-2
/// regex and its own special-token handling, and its BpeTokenizer has no byte-level mapping, so
/// neither lets us follow a tokenizer.json's pre-tokenizer chain (Split patterns, per-segment
/// add_prefix_space, added-token lstrip/rstrip, ignore_merges) step for step. The whole job is a
/// regex split plus <see cref="BpeMerger"/>, small enough to own and check against HF's semantics.
/// </remarks>
public sealed class ByteLevelBpeTokenizer : ITextTokenizer
{
    // Longer pre-tokens are rare (long digit or whitespace runs) and not worth keeping.
    private const int MaxCachedLength = 64;
    private const int MaxCacheEntries = 200_000;

    private readonly HfTokenizerJson _json;
    private readonly string[] _idToToken;
    private readonly byte[][] _tokenBytes;
    private readonly BpeMerger _merger;
    private readonly int[] _byteToId;
    private readonly Stage[] _stages;
    private readonly AddedTokenMatcher _added;
    private readonly bool _nfc;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;

    /// <summary>One step of the pre-tokenizer chain: a regex split and/or ByteLevel's prefix space.</summary>
    private sealed record Stage(RegexPreTokenizer? Regex, bool AddPrefixSpace);

    private ByteLevelBpeTokenizer(HfTokenizerJson json)
    {
        _json = json;
        if (json.ModelType != "BPE") throw json.Bad($"model type \"{json.ModelType}\" is not byte-level BPE");
        foreach (var n in HfTokenizerJson.Flatten(json.Normalizer))
        {
            // Qwen2/Qwen3 compose to NFC before splitting; nothing else is used with byte-level BPE in practice.
            if (HfTokenizerJson.TypeOf(n) == "NFC") _nfc = true;
            else throw json.Bad($"normalizer \"{HfTokenizerJson.TypeOf(n) ?? n.GetRawText()}\" is not supported with byte-level BPE (only NFC)");
        }

        VocabSize = json.IdCount;
        _idToToken = new string[VocabSize];
        foreach (var (text, id) in json.Vocab) _idToToken[id] ??= text;
        foreach (var t in json.AddedTokens) _idToToken[t.Id] = t.Content;

        _tokenBytes = new byte[VocabSize][];
        var scratch = new List<byte>();
        for (int id = 0; id < VocabSize; id++)
        {
            string? token = _idToToken[id];
            if (token is null)
            {
                _tokenBytes[id] = [];
                continue;
            }
            scratch.Clear();
            // HF's ByteLevel decoder falls back to the token's own UTF-8 when a character is not a mapped byte.
            _tokenBytes[id] = ByteLevelMapping.TryDecode(token, scratch) ? scratch.ToArray() : Encoding.UTF8.GetBytes(token);
        }

        _merger = new BpeMerger(json.Vocab, json.Merges, json.Path);
        int unk = json.UnkToken is not null && json.Vocab.TryGetValue(json.UnkToken, out int u) ? u : -1;
        _byteToId = new int[256];
        for (int b = 0; b < 256; b++)
        {
            // Without the byte in the vocabulary HF emits unk, or drops the byte when there is no unk token.
            _byteToId[b] = json.Vocab.TryGetValue(ByteLevelMapping.ByteToChar((byte)b).ToString(), out int id) ? id : unk;
        }

        _stages = ReadStages(json);
        _added = new AddedTokenMatcher(json.AddedTokens);
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        BosId = json.IdOf(json.ConfigBosToken) ?? json.IdOf("<|endoftext|>");
        EosId = json.IdOf(json.ConfigEosToken) ?? json.IdOf("<|endoftext|>");
        UnknownId = unk >= 0 ? unk : null;
    }

    /// <summary>Loads a tokenizer.json (and the tokenizer_config.json beside it, for BOS/EOS).</summary>
    public static ByteLevelBpeTokenizer Load(string tokenizerJsonPath) => new(HfTokenizerJson.Load(tokenizerJsonPath));

    /// <summary>Builds the tokenizer from an already parsed file.</summary>
    public static ByteLevelBpeTokenizer FromJson(HfTokenizerJson json) => new(json);

    /// <summary>Whether a parsed tokenizer.json is byte-level BPE (a ByteLevel step in its pre-tokenizer).</summary>
    public static bool IsByteLevel(HfTokenizerJson json)
    {
        foreach (var p in HfTokenizerJson.Flatten(json.PreTokenizer))
        {
            if (HfTokenizerJson.TypeOf(p) == "ByteLevel") return true;
        }
        return false;
    }

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <summary>The unknown-token id, if the model has one.</summary>
    public int? UnknownId { get; }

    /// <summary>Whether text is put in Unicode NFC before it is split (the tokenizer.json has an NFC normalizer).</summary>
    public bool NormalizesToNfc => _nfc;

    /// <summary>The split patterns in the order they apply.</summary>
    public IReadOnlyList<string> Patterns
    {
        get
        {
            var list = new List<string>();
            foreach (var s in _stages)
            {
                if (s.Regex is not null) list.Add(s.Regex.Pattern);
            }
            return list;
        }
    }

    /// <summary>The text of a token as the vocabulary writes it (byte-level characters), or the added token's content.</summary>
    public string TokenText(int id) => _idToToken[id] ?? throw new ArgumentOutOfRangeException(nameof(id), id, "No token has this id.");

    /// <inheritdoc/>
    public int[] Encode(string text, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addBos) ids.Add(BosId ?? throw new InvalidOperationException($"{_json.Path}: the tokenizer has no BOS token."));

        var segments = new List<AddedTokenMatcher.Piece>();
        _added.Split(text, segments);
        var pieces = new List<(int Start, int Length)>();
        foreach (var seg in segments)
        {
            if (seg.Token is not null)
            {
                ids.Add(seg.Token.Id);
                continue;
            }
            var segment = text.AsSpan(seg.Start, seg.Length);
            // HF normalizes what lies between added tokens, never the added tokens themselves.
            if (_nfc && UnicodeNfc.MayChange(segment)) segment = UnicodeNfc.Normalize(segment);
            EncodeSegment(segment, 0, ids, pieces);
        }

        if (addEos) ids.Add(EosId ?? throw new InvalidOperationException($"{_json.Path}: the tokenizer has no EOS token."));
        return ids.ToArray();
    }

    // Runs the pre-tokenizer chain from stage `stage` on one piece of text, then BPE on the final pieces.
    private void EncodeSegment(ReadOnlySpan<char> text, int stage, List<int> ids, List<(int Start, int Length)> scratch)
    {
        if (text.IsEmpty) return;
        if (stage == _stages.Length)
        {
            EncodeWord(text, ids);
            return;
        }
        var s = _stages[stage];
        if (s.AddPrefixSpace && text[0] != ' ')
        {
            // ByteLevel's add_prefix_space prepends to each piece that reaches it.
            string prefixed = string.Concat(" ", text);
            EncodeSegment(prefixed, stage, ids, scratch);
            return;
        }
        if (s.Regex is null)
        {
            EncodeSegment(text, stage + 1, ids, scratch);
            return;
        }

        // The scratch list is shared down the chain, so this stage's pieces live after `first`.
        int first = scratch.Count;
        s.Regex.Split(text, scratch);
        int last = scratch.Count;
        for (int i = first; i < last; i++)
        {
            var (start, length) = scratch[i];
            EncodeSegment(text.Slice(start, length), stage + 1, ids, scratch);
        }
        scratch.RemoveRange(first, scratch.Count - first);
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.Length <= MaxCachedLength && _cacheBySpan.TryGetValue(word, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        int maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
        Span<byte> bytes = maxBytes <= 1024 ? stackalloc byte[1024] : new byte[maxBytes];
        // Lone surrogates become EF BF BD, as a Rust String (always valid UTF-8) would hold them.
        int byteCount = Encoding.UTF8.GetBytes(word, bytes);
        bytes = bytes[..byteCount];

        int[] result;
        if (_json.IgnoreMerges && TryWholeWord(bytes, out int wholeId))
        {
            result = [wholeId];
        }
        else
        {
            Span<int> symbols = byteCount <= 512 ? stackalloc int[byteCount] : new int[byteCount];
            int n = 0;
            for (int i = 0; i < byteCount; i++)
            {
                int id = _byteToId[bytes[i]];
                if (id >= 0) symbols[n++] = id;
            }
            result = _merger.Merge(symbols[..n]);
        }

        if (word.Length <= MaxCachedLength)
        {
            if (_cache.Count >= MaxCacheEntries) _cache.Clear();
            _cacheBySpan.TryAdd(word, result);
        }
        ids.AddRange(result);
    }

    private bool TryWholeWord(ReadOnlySpan<byte> bytes, out int id) => _json.Vocab.TryGetValue(ByteLevelMapping.Encode(bytes), out id);

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids) bytes.AddRange(TokenBytes(id));
        // Invalid UTF-8 becomes U+FFFD per maximal invalid subsequence, as Rust's from_utf8_lossy does.
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <inheritdoc/>
    public byte[] TokenBytes(int id, int? previous = null)
    {
        if ((uint)id >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {VocabSize - 1}.");
        return _tokenBytes[id];
    }

    /// <inheritdoc/>
    public TokenizerData ToTokenizerData()
    {
        var tokens = new string[VocabSize];
        var types = new GgufTokenType[VocabSize];
        for (int id = 0; id < VocabSize; id++)
        {
            // Holes in the id range get llama.cpp's placeholder names.
            tokens[id] = _idToToken[id] ?? $"[PAD{id}]";
            types[id] = _idToToken[id] is null ? GgufTokenType.Unused : GgufTokenType.Normal;
        }
        foreach (var t in _json.AddedTokens)
        {
            // As llama.cpp's converter: special added tokens are Control, the others UserDefined.
            types[t.Id] = t.Special ? GgufTokenType.Control : GgufTokenType.UserDefined;
        }

        var merges = new string[_json.Merges.Count];
        for (int i = 0; i < merges.Length; i++) merges[i] = _json.Merges[i].Left + " " + _json.Merges[i].Right;

        return new TokenizerData(
            Model: "gpt2",
            Pre: PreName(),
            Tokens: tokens,
            Scores: null,
            TokenTypes: types,
            Merges: merges,
            BosId: BosId,
            EosId: EosId,
            UnknownId: UnknownId,
            PaddingId: null,
            AddBos: _json.ConfigAddBos ?? _json.PostProcessorAddsBos(),
            AddEos: false,
            AddSpacePrefix: _stages.Length > 0 && Array.Exists(_stages, s => s.AddPrefixSpace));
    }

    // llama.cpp's tokenizer.ggml.pre names for the regex families we recognise; null for others.
    private string? PreName()
    {
        var patterns = Patterns;
        if (patterns.Count != 1) return null;
        return patterns[0] switch
        {
            RegexPreTokenizer.Gpt2Pattern => "gpt-2", // llama.cpp's name for the GPT-2 regex
            RegexPreTokenizer.Llama3Pattern => "llama-bpe",
            RegexPreTokenizer.Qwen2Pattern => "qwen2",
            _ => null,
        };
    }

    private static Stage[] ReadStages(HfTokenizerJson json)
    {
        var stages = new List<Stage>();
        foreach (var p in HfTokenizerJson.Flatten(json.PreTokenizer))
        {
            switch (HfTokenizerJson.TypeOf(p))
            {
                case "ByteLevel":
                    bool useRegex = !p.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
                    bool prefix = p.TryGetProperty("add_prefix_space", out var ap) && ap.ValueKind == JsonValueKind.True;
                    stages.Add(new Stage(useRegex ? new RegexPreTokenizer(RegexPreTokenizer.Gpt2Pattern) : null, prefix));
                    break;
                case "Split":
                    string pattern = SplitPattern(json, p);
                    try
                    {
                        stages.Add(new Stage(new RegexPreTokenizer(pattern), false));
                    }
                    catch (ArgumentException e)
                    {
                        throw json.Bad($"Split pattern {pattern} does not compile: {e.Message}");
                    }
                    break;
                case var other:
                    throw json.Bad($"pre-tokenizer \"{other ?? p.GetRawText()}\" is not supported with byte-level BPE");
            }
        }
        if (stages.Count == 0) throw json.Bad("byte-level BPE without a ByteLevel pre-tokenizer is not supported");
        return stages.ToArray();
    }

    private static string SplitPattern(HfTokenizerJson json, JsonElement split)
    {
        string behavior = split.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "Isolated";
        bool invert = split.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True;
        if (behavior != "Isolated" || invert) throw json.Bad($"Split pre-tokenizer with behavior \"{behavior}\" and invert={invert} is not supported (only Isolated)");
        if (!split.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object) throw json.Bad("Split pre-tokenizer without a pattern");
        if (pattern.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String) return regex.GetString()!;
        if (pattern.TryGetProperty("String", out var literal) && literal.ValueKind == JsonValueKind.String) return System.Text.RegularExpressions.Regex.Escape(literal.GetString()!);
        throw json.Bad("Split pre-tokenizer pattern is neither Regex nor String");
    }
}
