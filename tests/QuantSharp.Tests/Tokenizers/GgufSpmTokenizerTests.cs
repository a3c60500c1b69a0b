// GgufSpmTokenizer on the tiny SentencePiece vocabulary of TinyLlamaGguf: known answers, decoding, bad metadata, and llama.cpp agreement.
using QuantSharp.Formats.Tokenizers;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;

namespace QuantSharp.Tests.Tokenizers;

public sealed class GgufSpmTokenizerTests
{
    private static readonly TokenizerData Data = TinyLlamaGguf.Tokenizer();

    private static int Id(string piece) => Data.Tokens.ToList().IndexOf(piece);

    private static GgufSpmTokenizer Make(TokenizerData? data = null) => GgufSpmTokenizer.Create(data ?? Data, "tiny.gguf");

    [Fact]
    public void SpacePrefixMergesByScoreAndByteFallback()
    {
        var tok = Make();
        // "▁the" is a piece, but no pair of pieces concatenates to "▁t", "th" or "▁th": merging stops at ▁ t he.
        Assert.Equal([Id("▁"), Id("t"), Id("he"), Id("▁a"), Id("▁b"), Id("▁c")], tok.Encode("the a b c"));
        Assert.Equal([1, Id("▁he")], tok.Encode("he", addBos: true));
        // "é" is no piece: its two UTF-8 bytes; the control token <s> is cut out, and the text after it gets a new prefix.
        Assert.Equal([Id("▁"), 3 + 0xC3, 3 + 0xA9, 1, Id("▁a"), 2], tok.Encode("é<s>a", addEos: true));
    }

    [Fact]
    public void DecodingDropsThePrefixSpaceAndKeepsControlTextButStreamingDoesNot()
    {
        var tok = Make();
        Assert.Equal("the a b c", tok.Decode(tok.Encode("the a b c")));
        Assert.Equal("é", tok.Decode(tok.Encode("é")));
        Assert.Equal("<s>the", tok.Decode(tok.Encode("the", addBos: true)));
        Assert.Equal("the"u8.ToArray(), tok.TokenBytes(Id("▁the"), previous: 1));
        Assert.Equal(" the"u8.ToArray(), tok.TokenBytes(Id("▁the"), previous: Id("▁a")));
        Assert.Empty(tok.TokenBytes(1));
    }

    [Fact]
    public void BadMetadataNamesTheFile()
    {
        Assert.Contains("tiny.gguf", Assert.Throws<InvalidDataException>(() => Make(Data with { Scores = null })).Message);
        Assert.Contains("tiny.gguf", Assert.Throws<InvalidDataException>(() => Make(Data with { Scores = [1f] })).Message);
        Assert.Contains("tiny.gguf", Assert.Throws<InvalidDataException>(() => Make(Data with { TokenTypes = [GgufTokenType.Normal] })).Message);
        Assert.Contains("tiny.gguf", Assert.Throws<NotSupportedException>(() => GgufSpmTokenizer.Create(Data with { Model = "bert" }, "tiny.gguf")).Message);
    }

    [Fact]
    public void FactoryBuildsItForLlamaVocabulariesWhateverTheirBosAndEos()
    {
        var tok = Assert.IsType<GgufSpmTokenizer>(GgufTokenizerFactory.Create(Data with { BosId = 2, EosId = 1 }, "tiny.gguf"));
        Assert.Equal((2, 1), (tok.BosId, tok.EosId));
    }

    [OracleFact]
    [Trait("Category", "Oracle")]
    public void AgreesWithLlamaCpp()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tiny-vocab.gguf");
        VocabOnlyGguf.Write(path, Data);
        using var cpp = LlamaCppModel.Load(path, vocabOnly: true);
        var tok = GgufTokenizerFactory.Create(VocabOnlyGguf.Read(path), path);
        foreach (var text in new[] { "the a b c", "  the   he  ", "théé\n\tb", "<s>the</s> a<unk>", "", " ", "abc😀", UnicodeStressText.Text })
        {
            Assert.Equal(cpp.Tokenize(text, addSpecial: false, parseSpecial: true), tok.Encode(text));
            Assert.Equal(cpp.Tokenize(text, addSpecial: true, parseSpecial: true), tok.Encode(text, addBos: true));
        }
    }
}
