// TokenizerData ⇄ tokenizer.ggml.* keys.
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufTokenizerMetadataTests
{
    private static TokenizerData Bpe() => new(
        "gpt2", "gpt2", ["<s>", "</s>", "a", "b", "ab", "Ġ"], null,
        [GgufTokenType.Control, GgufTokenType.Control, GgufTokenType.Normal, GgufTokenType.Normal, GgufTokenType.Normal, GgufTokenType.Normal],
        ["a b"], 0, 1, null, null, AddBos: true, AddEos: false, AddSpacePrefix: false);

    [Fact]
    public void Round_trips_through_a_file()
    {
        using var dir = new TempDirectory();
        var data = Bpe();
        var w = new GgufWriter();
        GgufTokenizerMetadata.Write(w, data);
        w.WriteFile(dir.File("t.gguf"));
        using var f = new GgufFile(dir.File("t.gguf"));

        Assert.False(f.Metadata.ContainsKey(LlamaGgufNames.TokenizerScores));
        Assert.False(f.Metadata.ContainsKey(LlamaGgufNames.TokenizerUnknownId));
        Assert.Equal(0u, f.Metadata.GetUInt32(LlamaGgufNames.TokenizerBosId));
        var back = GgufTokenizerMetadata.Read(f.Metadata);
        Assert.Equal(data.Model, back.Model);
        Assert.Equal(data.Pre, back.Pre);
        Assert.Equal(data.Tokens, back.Tokens);
        Assert.Equal(data.TokenTypes, back.TokenTypes);
        Assert.Equal(data.Merges, back.Merges);
        Assert.Null(back.Scores);
        Assert.Equal((data.BosId, data.EosId, data.UnknownId, data.PaddingId), (back.BosId, back.EosId, back.UnknownId, back.PaddingId));
        Assert.Equal((data.AddBos, data.AddEos, data.AddSpacePrefix), (back.AddBos, back.AddEos, back.AddSpacePrefix));
    }

    [Fact]
    public void Spm_scores_and_defaults()
    {
        var m = new GgufMetadata("mem");
        m.SetString(LlamaGgufNames.TokenizerModel, "llama");
        m.SetArray(LlamaGgufNames.TokenizerTokens, new[] { "<unk>", "▁a" });
        m.SetArray(LlamaGgufNames.TokenizerScores, new[] { 0f, -1.5f });
        m.SetInt32(LlamaGgufNames.TokenizerUnknownId, 0); // int32 ids from other converters are accepted
        var d = GgufTokenizerMetadata.Read(m);
        Assert.Equal(new[] { 0f, -1.5f }, d.Scores);
        Assert.Equal(0, d.UnknownId);
        Assert.True(d.AddBos);
        Assert.True(d.AddSpacePrefix);
        Assert.All(d.TokenTypes, t => Assert.Equal(GgufTokenType.Normal, t));
    }

    [Fact]
    public void Inconsistent_data_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => GgufTokenizerMetadata.Write(new GgufMetadata(), Bpe() with { EosId = 99 }));
        Assert.Throws<ArgumentException>(() => GgufTokenizerMetadata.Write(new GgufMetadata(), Bpe() with { Scores = [1f] }));
        var m = new GgufMetadata("mem");
        GgufTokenizerMetadata.Write(m, Bpe());
        m.SetUInt32(LlamaGgufNames.TokenizerBosId, 6);
        var e = Assert.Throws<InvalidDataException>(() => GgufTokenizerMetadata.Read(m));
        Assert.Contains("bos_token_id", e.Message);
        Assert.Throws<InvalidDataException>(() => GgufTokenizerMetadata.Read(new GgufMetadata("empty")));
    }
}
