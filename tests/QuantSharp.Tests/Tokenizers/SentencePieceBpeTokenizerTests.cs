// SentencePiece-style BPE from a synthetic Llama-2-layout tokenizer.json: normalization, merges, byte fallback, decoding, GGUF data.
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>Expected ids are worked out by hand from <see cref="SyntheticTokenizerJson"/>'s merges.</summary>
public class SentencePieceBpeTokenizerTests
{
    private static SentencePieceBpeTokenizer Make(bool byteFallback = true, bool metaspace = false)
    {
        string folder = SyntheticTokenizerJson.WriteFolder(SyntheticTokenizerJson.Build(byteFallback, metaspace));
        try
        {
            return SentencePieceBpeTokenizer.Load(Path.Combine(folder, "tokenizer.json"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static int Id(string piece) => SyntheticTokenizerJson.Id(piece);

    [Fact]
    public void MergesByRank()
    {
        var tok = Make();
        // "▁hello▁world" is one word: (l,l) → (▁,h) → (▁h,e) → (▁he,ll) → (▁hell,o), then the "▁world" chain.
        Assert.Equal([Id("▁hello"), Id("▁world")], tok.Encode("hello world"));
        Assert.Equal([1, Id("▁hello"), Id("▁world"), 2], tok.Encode("hello world", addBos: true, addEos: true));
        // As HF without skip_special_tokens: special tokens are text, and Strip only looks at the very start.
        Assert.Equal("<s> hello world</s>", tok.Decode([1, Id("▁hello"), Id("▁world"), 2]));
        Assert.Equal("hello world", tok.Decode([Id("▁hello"), Id("▁world")]));
    }

    [Fact]
    public void ByteFallbackForUnknownCharacters()
    {
        var tok = Make();
        // "H" is not a piece: <0x48> = 3 + 0x48; no merge involves byte tokens.
        Assert.Equal([Id("▁"), 3 + 0x48, Id("e"), Id("ll"), Id("o")], tok.Encode("Hello"));
        Assert.Equal("Hello", tok.Decode(tok.Encode("Hello")));
        // 日 = E6 97 A5.
        Assert.Equal([Id("▁"), 3 + 0xE6, 3 + 0x97, 3 + 0xA5], tok.Encode("日"));
        Assert.Equal("日", tok.Decode(tok.Encode("日")));
        // An incomplete UTF-8 run decodes to one U+FFFD per byte (HF's ByteFallback decoder).
        Assert.Equal("\uFFFD\uFFFD", tok.Decode([3 + 0xE6, 3 + 0x97]));
    }

    [Fact]
    public void LegacyPrependAddsAMarkerEvenBeforeASpace()
    {
        var tok = Make();
        // " hi" → "▁▁hi": the second ▁ merges with h; i is a byte token. Decoding strips one space only.
        Assert.Equal([Id("▁"), Id("▁h"), 3 + 'i'], tok.Encode(" hi"));
        Assert.Equal(" hi", tok.Decode(tok.Encode(" hi")));
    }

    [Fact]
    public void SpecialTokensInTextAreSplitFirst()
    {
        var tok = Make();
        // Each segment between added tokens is normalized on its own, so "hello" still gets its "▁".
        Assert.Equal([1, Id("▁hello"), 2], tok.Encode("<s>hello</s>"));
    }

    [Fact]
    public void UnknownWithoutByteFallbackIsFusedUnk()
    {
        var tok = Make(byteFallback: false);
        Assert.Equal([Id("▁h"), 0], tok.Encode("hÉÉ"));
    }

    [Fact]
    public void MetaspaceLayoutEncodesTheSame()
    {
        var tok = Make(metaspace: true);
        Assert.Equal([Id("▁hello"), Id("▁world")], tok.Encode("hello world"));
        Assert.Equal("hello world", tok.Decode([Id("▁hello"), Id("▁world")]));
        // Metaspace adds no second marker before a leading space.
        Assert.Equal([Id("▁h"), 3 + 'i'], tok.Encode(" hi"));
    }

    [Fact]
    public void TokenBytesDropTheSpaceAtTheStart()
    {
        var tok = Make();
        Assert.Equal("hello"u8.ToArray(), tok.TokenBytes(Id("▁hello"), previous: 1));
        Assert.Equal(" world"u8.ToArray(), tok.TokenBytes(Id("▁world"), previous: Id("▁hello")));
        Assert.Equal(new byte[] { 0xE6 }, tok.TokenBytes(3 + 0xE6));
    }

    [Fact]
    public void TokenizerDataForGguf()
    {
        var data = Make().ToTokenizerData();
        Assert.Equal("llama", data.Model);
        Assert.Equal(259 + SyntheticTokenizerJson.Pieces.Length, data.Tokens.Count);
        Assert.Equal("▁hello", data.Tokens[Id("▁hello")]);
        Assert.Equal(GgufTokenType.Unknown, data.TokenTypes[0]);
        Assert.Equal(GgufTokenType.Control, data.TokenTypes[1]);
        Assert.Equal(GgufTokenType.Byte, data.TokenTypes[3 + 0x41]);
        Assert.Equal(GgufTokenType.Normal, data.TokenTypes[Id("▁hello")]);
        // Scores are minus the merge rank, so llama.cpp's highest-score-first merging follows the ranks.
        Assert.Equal(0f, data.Scores![Id("ll")]);
        Assert.Equal(-4f, data.Scores[Id("▁hello")]);
        Assert.True(data.Scores[Id("▁h")] > data.Scores[Id("▁he")]);
        Assert.Equal((1, 2, 0), (data.BosId, data.EosId, data.UnknownId));
        Assert.True(data.AddBos); // the TemplateProcessing post-processor starts with <s>
        Assert.True(data.AddSpacePrefix);
    }

    [Fact]
    public void LoaderPicksSentencePieceStyle()
    {
        string folder = SyntheticTokenizerJson.WriteFolder(SyntheticTokenizerJson.Build());
        try
        {
            Assert.IsType<SentencePieceBpeTokenizer>(TokenizerLoader.Load(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
