// llama2.c's tokenizer file (tokenizer.bin / tok512.bin) and an exact port of run.c's encode()/decode().
using System.Buffers.Binary;
using System.Text;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// The SentencePiece-style BPE of llama2.c: pieces with scores, no merge list. Encoding follows
/// run.c's <c>encode()</c>: optional BOS, the " " piece as a dummy prefix when the text is not empty,
/// one piece per UTF-8 code point (or its bytes as &lt;0xNN&gt; tokens, id = byte + 3, when the code
/// point is not a piece), then repeatedly merge the adjacent pair whose concatenation is the piece
/// with the highest score (leftmost on ties). Decoding drops the leading space of the token after
/// BOS and turns &lt;0xNN&gt; pieces into raw bytes, as run.c's <c>decode()</c> does.
/// </summary>
public sealed class Llama2cTokenizer : ITextTokenizer
{
    // Sanity bounds for hostile files: real pieces are a few dozen bytes.
    private const int MaxPieceLength = 1 << 16;
    private const int MaxVocabSize = 1 << 24;
    // run.c starts its search at best_score = -1e10 and only accepts strictly better scores.
    private const float ScoreFloor = -1e10f;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _lookup; // piece bytes as Latin-1 text -> id
    private readonly int _spaceId;

    private Llama2cTokenizer(string origin, int maxTokenLength, byte[][] pieces, float[] scores)
    {
        Origin = origin;
        MaxTokenLength = maxTokenLength;
        _pieces = pieces;
        _scores = scores;
        _lookup = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
        {
            // run.c binary-searches a sorted copy, so which of two equal pieces wins is unspecified; keep the lowest id.
            _lookup.TryAdd(Latin1(pieces[i]), i);
        }
        _spaceId = _lookup.TryGetValue(" ", out int space) ? space : -1;
    }

    /// <summary>The file the vocabulary came from.</summary>
    public string Origin { get; }

    /// <summary>The file's max_token_length header field.</summary>
    public int MaxTokenLength { get; }

    /// <inheritdoc/>
    public int VocabSize => _pieces.Length;

    /// <inheritdoc/>
    public int? BosId => 1;

    /// <inheritdoc/>
    public int? EosId => 2;

    /// <summary>The raw bytes of piece <paramref name="id"/> as stored in the file.</summary>
    public ReadOnlySpan<byte> Piece(int id) => _pieces[id];

    /// <summary>The score of piece <paramref name="id"/>.</summary>
    public float Score(int id) => _scores[id];

    /// <summary>
    /// Reads a llama2.c tokenizer file. The file does not store the vocabulary size: pass the model's
    /// vocab_size, or null to read pieces until the end of the file.
    /// </summary>
    public static Llama2cTokenizer Load(string path, int? vocabSize = null)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the llama2.c tokenizer file: {e.Message}", e);
        }
        return Parse(path, data, vocabSize);
    }

    /// <summary>Parses the bytes of a llama2.c tokenizer file; <paramref name="origin"/> names it in errors.</summary>
    public static Llama2cTokenizer Parse(string origin, ReadOnlySpan<byte> data, int? vocabSize = null)
    {
        if (vocabSize is < 3 or > MaxVocabSize) throw new InvalidDataException($"{origin}: vocabulary size {vocabSize} is out of range.");
        if (data.Length < 4) throw new InvalidDataException($"{origin}: truncated llama2.c tokenizer file ({data.Length} bytes, no header).");
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength <= 0 || maxTokenLength > MaxPieceLength)
        {
            throw new InvalidDataException($"{origin}: max_token_length {maxTokenLength} is out of range; not a llama2.c tokenizer file?");
        }

        var pieces = new List<byte[]>();
        var scores = new List<float>();
        int offset = 4;
        while (vocabSize is null ? offset < data.Length : pieces.Count < vocabSize)
        {
            int id = pieces.Count;
            if (id >= MaxVocabSize) throw new InvalidDataException($"{origin}: more than {MaxVocabSize} tokens.");
            if (data.Length - offset < 8) throw new InvalidDataException($"{origin}: truncated at token {id} (offset {offset}: no score/length).");
            float score = BinaryPrimitives.ReadSingleLittleEndian(data[offset..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(offset + 4)..]);
            offset += 8;
            if (length < 0 || length > maxTokenLength)
            {
                throw new InvalidDataException($"{origin}: token {id} has length {length}, outside 0..{maxTokenLength} (max_token_length).");
            }
            if (data.Length - offset < length) throw new InvalidDataException($"{origin}: truncated in the bytes of token {id} (offset {offset}).");
            pieces.Add(data.Slice(offset, length).ToArray());
            scores.Add(score);
            offset += length;
        }
        if (pieces.Count < 3) throw new InvalidDataException($"{origin}: only {pieces.Count} tokens; llama2.c needs <unk>, BOS and EOS at 0..2.");
        return new Llama2cTokenizer(origin, maxTokenLength, pieces.ToArray(), scores.ToArray());
    }

    /// <inheritdoc/>
    public int[] Encode(string text, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        // run.c walks a C string, so the text ends at the first NUL.
        int nul = text.IndexOf('\0');
        byte[] bytes = Encoding.UTF8.GetBytes(nul >= 0 ? text[..nul] : text);

        var tokens = new List<int>(bytes.Length + 3);
        if (addBos) tokens.Add(1);
        if (bytes.Length > 0) tokens.Add(_spaceId); // -1 when there is no " " piece, exactly as run.c would store it

        // One piece per code point: continuation bytes (10xxxxxx) are gathered, at most 4 bytes.
        int start = 0, length = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if ((bytes[i] & 0xC0) != 0x80) { start = i; length = 0; }
            length++;
            int nextByte = i + 1 < bytes.Length ? bytes[i + 1] : 0;
            if ((nextByte & 0xC0) == 0x80 && length < 4) continue;

            if (_lookup.TryGetValue(Latin1(bytes.AsSpan(start, length)), out int id))
            {
                tokens.Add(id);
            }
            else
            {
                // Byte fallback: the first 3 ids are <unk>, <s>, </s>.
                for (int k = 0; k < length; k++) tokens.Add(bytes[start + k] + 3);
            }
            length = 0;
        }

        var merged = MergeByScore(tokens);
        if (addEos)
        {
            Array.Resize(ref merged, merged.Length + 1);
            merged[^1] = 2;
        }
        return merged;
    }

    // run.c rescans all pairs after every merge (quadratic); a queue ordered by (score desc, position asc)
    // with lazy invalidation picks the same pair each step in O(n log n).
    private int[] MergeByScore(List<int> tokens)
    {
        int n = tokens.Count;
        var ids = tokens.ToArray();
        if (n < 2) return ids;
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        var queue = new PriorityQueue<(int Pos, int Merged), (float Score, int Pos)>(ScoreThenPosition.Instance);
        var pairCache = new Dictionary<long, int>();
        for (int i = 0; i + 1 < n; i++) Offer(queue, pairCache, ids, i, i + 1);

        while (queue.TryDequeue(out var entry, out _))
        {
            int pos = entry.Pos, right = next[pos];
            if (ids[pos] < -1 || right < 0 || PairPiece(pairCache, ids[pos], ids[right]) != entry.Merged) continue;
            ids[pos] = entry.Merged;
            ids[right] = int.MinValue; // removed
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;
            if (prev[pos] >= 0) Offer(queue, pairCache, ids, prev[pos], pos);
            if (after >= 0) Offer(queue, pairCache, ids, pos, after);
        }

        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i]) result.Add(ids[i]);
        return result.ToArray();
    }

    private void Offer(PriorityQueue<(int, int), (float, int)> queue, Dictionary<long, int> cache, int[] ids, int left, int right)
    {
        int merged = PairPiece(cache, ids[left], ids[right]);
        // NaN and scores at or below the floor never beat run.c's initial best_score.
        if (merged >= 0 && _scores[merged] > ScoreFloor) queue.Enqueue((left, merged), (_scores[merged], left));
    }

    // The id of the piece equal to piece(a) + piece(b), or -1.
    private int PairPiece(Dictionary<long, int> cache, int a, int b)
    {
        // A missing " " piece leaves -1 in the sequence; run.c would then read vocab[-1], we just never merge it.
        if ((uint)a >= (uint)_pieces.Length || (uint)b >= (uint)_pieces.Length) return -1;
        long key = ((long)a << 32) | (uint)b;
        if (cache.TryGetValue(key, out int id)) return id;
        byte[] pa = _pieces[a], pb = _pieces[b];
        Span<byte> both = pa.Length + pb.Length <= 512 ? stackalloc byte[pa.Length + pb.Length] : new byte[pa.Length + pb.Length];
        pa.CopyTo(both);
        pb.CopyTo(both[pa.Length..]);
        id = _lookup.TryGetValue(Latin1(both), out int found) ? found : -1;
        cache[key] = id;
        return id;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        int? previous = null;
        foreach (int id in ids)
        {
            bytes.AddRange(TokenBytes(id, previous));
            previous = id;
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>
    /// The bytes run.c's <c>decode(prev, token)</c> prints: the leading space is dropped after BOS and
    /// &lt;0xNN&gt; becomes byte NN. BOS and EOS give no bytes (their pieces are "\n&lt;s&gt;\n" and
    /// "\n&lt;/s&gt;\n" in llama2.c's export, which generation never prints).
    /// </summary>
    public byte[] TokenBytes(int id, int? previous = null)
    {
        if ((uint)id >= (uint)_pieces.Length) throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids run from 0 to {_pieces.Length - 1}.");
        if (id is 1 or 2) return [];
        ReadOnlySpan<byte> piece = _pieces[id];
        if (previous == 1 && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        if (TryParseByteToken(piece, out byte value)) return [value];
        return piece.ToArray();
    }

    /// <inheritdoc/>
    public TokenizerData ToTokenizerData()
    {
        int n = _pieces.Length;
        var tokens = new string[n];
        var types = new GgufTokenType[n];
        for (int id = 0; id < n; id++)
        {
            // As llama.cpp's convert-llama2c-to-ggml: fixed names for 0..2, spaces written as U+2581.
            string text = id switch
            {
                0 => "<unk>",
                1 => "<s>",
                2 => "</s>",
                _ => Encoding.UTF8.GetString(_pieces[id]).Replace(' ', '\u2581'),
            };
            tokens[id] = text;
            types[id] = id switch
            {
                0 => GgufTokenType.Unknown,
                1 or 2 => GgufTokenType.Control,
                _ when _pieces[id].Length == 0 => GgufTokenType.Control,
                _ when IsByteToken(_pieces[id]) => GgufTokenType.Byte,
                _ => GgufTokenType.Normal,
            };
        }
        return new TokenizerData(
            Model: "llama",
            Pre: null,
            Tokens: tokens,
            Scores: (float[])_scores.Clone(),
            TokenTypes: types,
            Merges: null,
            BosId: 1,
            EosId: 2,
            UnknownId: 0,
            PaddingId: null,
            AddBos: true,
            AddEos: false,
            AddSpacePrefix: true);
    }

    // Exactly "<0xHH>".
    private static bool IsByteToken(ReadOnlySpan<byte> piece) =>
        piece.Length == 6 && piece[..3].SequenceEqual("<0x"u8) && piece[5] == (byte)'>' && IsHex(piece[3]) && IsHex(piece[4]);

    // run.c uses sscanf(piece, "<0x%02hhX>", &b) == 1: "<0x" then one or two hex digits; the '>' is not checked.
    private static bool TryParseByteToken(ReadOnlySpan<byte> piece, out byte value)
    {
        value = 0;
        if (piece.Length < 4 || !piece[..3].SequenceEqual("<0x"u8) || !IsHex(piece[3])) return false;
        int v = HexValue(piece[3]);
        if (piece.Length > 4 && IsHex(piece[4])) v = v * 16 + HexValue(piece[4]);
        value = (byte)v;
        return true;
    }

    private static bool IsHex(byte c) => c is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    // Bytes as Latin-1 chars: a lossless dictionary key for byte strings that need not be valid UTF-8.
    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private sealed class ScoreThenPosition : IComparer<(float Score, int Pos)>
    {
        public static readonly ScoreThenPosition Instance = new();

        public int Compare((float Score, int Pos) x, (float Score, int Pos) y)
        {
            if (x.Score != y.Score) return x.Score > y.Score ? -1 : 1;
            return x.Pos.CompareTo(y.Pos);
        }
    }
}
