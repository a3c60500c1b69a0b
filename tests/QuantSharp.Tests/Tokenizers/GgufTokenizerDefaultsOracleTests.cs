// Without tokenizer.ggml.add_bos_token / add_space_prefix, GgufTokenizerMetadata.Read assumes what llama.cpp assumes.
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;
using N = QuantSharp.Formats.Gguf.LlamaGgufNames;

namespace QuantSharp.Tests.Tokenizers;

[Trait("Category", "Oracle")]
public sealed class GgufTokenizerDefaultsOracleTests
{
    [OracleTheory]
    [InlineData("gpt2", null)]
    [InlineData("gpt2", "gpt-2")]
    [InlineData("gpt2", "llama-bpe")]
    [InlineData("gpt2", "llama3")]
    [InlineData("gpt2", "qwen2")]
    [InlineData("llama", null)]
    [InlineData("llama", "default")]
    public void Missing_add_flags_default_as_in_llama_cpp(string model, string? pre)
    {
        var bytes = Enumerable.Range(0, 256).Select(b => ByteLevelMapping.ByteToChar((byte)b).ToString()).ToArray();
        var data = model == "llama"
            ? TinyLlamaGguf.Tokenizer() with { Pre = pre }
            : new TokenizerData("gpt2", pre, bytes, null, bytes.Select(_ => GgufTokenType.Normal).ToArray(), [], 0, 0, null, null, false, false, false);
        using var dir = new TempDirectory();
        string path = dir.File("vocab.gguf");
        VocabOnlyGguf.Write(path, data, N.TokenizerAddBos, N.TokenizerAddEos, N.TokenizerAddSpacePrefix);

        var read = VocabOnlyGguf.Read(path);
        using var cpp = LlamaCppModel.Load(path, vocabOnly: true);
        Assert.Equal(cpp.AddsBos, read.AddBos);
        var ours = GgufTokenizerFactory.Create(read, path);
        Assert.Equal(cpp.Tokenize("a b", addSpecial: true, parseSpecial: true), ours.Encode("a b", addBos: read.AddBos));
    }
}
