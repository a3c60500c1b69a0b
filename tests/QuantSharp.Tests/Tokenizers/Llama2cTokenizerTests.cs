// The llama2.c tokenizer on the real tok512.bin: a literal run.c transcription as oracle, the 7,902-token count, round trips, GGUF data.
using System.Text;
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

[Trait("Category", "RealModel")]
public class Llama2cTokenizerTests
{
    private static readonly Lazy<Llama2cTokenizer> Tok = new(() => Llama2cTokenizer.Load(SharedData.Model("stories260K", "tok512.bin")));

    private static string[] Stories()
    {
        string text = File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt"), Encoding.UTF8);
        var stories = new List<string>();
        foreach (var s in text.Split("<|endoftext|>"))
        {
            string story = s.Trim();
            if (story.Length > 0) stories.Add(story);
        }
        return stories.ToArray();
    }

    /// <summary>
    /// run.c's encode() transcribed line by line (quadratic rescan after every merge, byte-string
    /// lookups), kept deliberately naive so it can be read against the C source.
    /// </summary>
    private static List<int> ReferenceEncode(Llama2cTokenizer tok, string text, bool bos)
    {
        var vocab = new Dictionary<string, int>();
        for (int i = tok.VocabSize - 1; i >= 0; i--) vocab[Encoding.Latin1.GetString(tok.Piece(i))] = i;
        int Lookup(byte[] s) => vocab.TryGetValue(Encoding.Latin1.GetString(s), out int id) ? id : -1;

        var tokens = new List<int>();
        if (bos) tokens.Add(1);
        byte[] b = Encoding.UTF8.GetBytes(text);
        if (b.Length > 0) tokens.Add(Lookup(" "u8.ToArray()));
        var buffer = new List<byte>();
        for (int c = 0; c < b.Length; c++)
        {
            if ((b[c] & 0xC0) != 0x80) buffer.Clear();
            buffer.Add(b[c]);
            int next = c + 1 < b.Length ? b[c + 1] : 0;
            if ((next & 0xC0) == 0x80 && buffer.Count < 4) continue;
            int id = Lookup(buffer.ToArray());
            if (id != -1) tokens.Add(id);
            else foreach (byte x in buffer) tokens.Add(x + 3);
            buffer.Clear();
        }
        while (true)
        {
            float bestScore = -1e10f;
            int bestId = -1, bestIdx = -1;
            for (int i = 0; i < tokens.Count - 1; i++)
            {
                byte[] pair = [.. tok.Piece(tokens[i]), .. tok.Piece(tokens[i + 1])];
                int id = Lookup(pair);
                if (id != -1 && tok.Score(id) > bestScore)
                {
                    bestScore = tok.Score(id);
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) break;
            tokens[bestIdx] = bestId;
            tokens.RemoveAt(bestIdx + 1);
        }
        return tokens;
    }

    [Fact]
    public void FileLayout()
    {
        var tok = Tok.Value;
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(7, tok.MaxTokenLength);
        Assert.Equal("<unk>"u8.ToArray(), tok.Piece(0).ToArray());
        Assert.Equal("\n<s>\n"u8.ToArray(), tok.Piece(1).ToArray());
        Assert.Equal("<0x00>"u8.ToArray(), tok.Piece(3).ToArray());
        Assert.Equal("<0xFF>"u8.ToArray(), tok.Piece(258).ToArray());
        Assert.Equal(" t"u8.ToArray(), tok.Piece(259).ToArray());
        Assert.Equal(-1f, tok.Score(260));
    }

    [Fact]
    public void KnownAnswers()
    {
        // Computed with a Python transcription of run.c (the same steps as ReferenceEncode).
        Assert.Equal([1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426],
            Tok.Value.Encode("Once upon a time, there was a little girl named Lily.", addBos: true));
        // 世 and 界 are not pieces: their UTF-8 bytes come out as byte tokens (byte + 3); 😀 likewise.
        Assert.Equal([1, 346, 306, 414, 410, 231, 187, 153, 234, 152, 143, 410, 243, 162, 155, 131, 410, 493],
            Tok.Value.Encode("Hello 世界 😀 ñ", addBos: true));
        Assert.Equal([1], Tok.Value.Encode("", addBos: true)); // no dummy prefix for empty text
        Assert.Equal([410, 2], Tok.Value.Encode(" ", addEos: true)[^2..]);
    }

    [Fact]
    public void MatchesTheLiteralRunCPortOnStoriesAndOddText()
    {
        var tok = Tok.Value;
        var texts = new List<string>(Stories())
        {
            "", " ", "  double  spaces  ", "Tabs\tand\nnewlines\n\n", "ünïcödé ✓ 😀👍🏽 𝐀", "<0x41> looks like a byte token", "aaaaaaaaaaaaaaaa",
        };
        foreach (var text in texts)
        {
            Assert.Equal(ReferenceEncode(tok, text, bos: true), tok.Encode(text, addBos: true));
        }
    }

    [Fact]
    public void ValidSamplePredictedTokenCountIs7902()
    {
        // The models README: each story on its own from BOS, at most 512 tokens, 7,902 predicted tokens.
        int predicted = 0;
        foreach (var story in Stories())
        {
            int n = Math.Min(Tok.Value.Encode(story, addBos: true).Length, 512);
            predicted += n - 1;
        }
        Assert.Equal(7902, predicted);
    }

    [Fact]
    public void RoundTrips()
    {
        foreach (var text in (string[])[.. Stories(), "Hello 世界 😀 ñ", "  two leading spaces", "x"])
        {
            var ids = Tok.Value.Encode(text, addBos: true, addEos: true);
            Assert.Equal(text, Tok.Value.Decode(ids));
        }
    }

    [Fact]
    public void DecodeFollowsRunC()
    {
        var tok = Tok.Value;
        Assert.Equal(" t"u8.ToArray(), tok.TokenBytes(259));
        Assert.Equal("t"u8.ToArray(), tok.TokenBytes(259, previous: 1)); // leading space dropped after BOS
        Assert.Equal(new byte[] { 0x0A }, tok.TokenBytes(3 + 0x0A));
        Assert.Equal("\uFFFD", tok.Decode([3 + 0xE4])); // a lone lead byte is invalid UTF-8
    }

    [Fact]
    public void TokenizerDataForGguf()
    {
        var data = Tok.Value.ToTokenizerData();
        Assert.Equal("llama", data.Model);
        Assert.Equal(512, data.Tokens.Count);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], data.Tokens.Take(4));
        Assert.Equal("\u2581t", data.Tokens[259]);
        Assert.Equal(GgufTokenType.Unknown, data.TokenTypes[0]);
        Assert.Equal(GgufTokenType.Control, data.TokenTypes[1]);
        Assert.Equal(GgufTokenType.Control, data.TokenTypes[2]);
        for (int i = 3; i <= 258; i++) Assert.Equal(GgufTokenType.Byte, data.TokenTypes[i]);
        Assert.Equal(GgufTokenType.Normal, data.TokenTypes[259]);
        Assert.Equal(-1f, data.Scores![260]);
        Assert.Equal((1, 2, 0), (data.BosId, data.EosId, data.UnknownId));
        Assert.True(data.AddBos);
        Assert.False(data.AddEos);
        Assert.True(data.AddSpacePrefix);
        Assert.Null(data.Merges);
    }
}
