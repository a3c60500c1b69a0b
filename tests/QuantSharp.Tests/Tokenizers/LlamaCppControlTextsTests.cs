// LlamaCppControlTexts against llama.cpp itself: exactly those texts become control tokens when a vocabulary is loaded.
using QuantSharp.Formats.Tokenizers;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;

namespace QuantSharp.Tests.Tokenizers;

[Trait("Category", "Oracle")]
public sealed class LlamaCppControlTextsTests
{
    // Special-looking texts llama.cpp leaves alone: they are control tokens only when the vocabulary says so.
    private static readonly string[] Decoys =
    [
        "<s>", "<eos>", "<bos>", "<|im_start|>", "<unk>", "<pad>", "<mask>", "<|begin_of_text|>", "[PREFIX]", "[SUFFIX]", "[MIDDLE]",
        "<fim_repo>", "<fim-sep>", "<SEP>", "<filename>", "<EOS>", "<|end_of_turn|>", "<end>", "</S>", "<|im_sep|>", "<start_of_turn>",
    ];

    [OracleFact]
    public void Exactly_the_listed_texts_become_control_tokens_in_llama_cpp()
    {
        using var dir = new TempDirectory();
        // Each text alone in a byte-level vocabulary typed Normal, so that no other token competes for its role.
        var bytes = Enumerable.Range(0, 256).Select(b => ByteLevelMapping.ByteToChar((byte)b).ToString()).ToArray();
        var wrong = new List<string>();
        foreach (var text in LlamaCppControlTexts.All.Concat(Decoys))
        {
            string[] tokens = [.. bytes, text];
            var data = new TokenizerData("gpt2", "qwen2", tokens, null, tokens.Select(_ => GgufTokenType.Normal).ToArray(), [],
                BosId: 0, EosId: 0, UnknownId: null, PaddingId: null, AddBos: false, AddEos: false, AddSpacePrefix: false);
            string path = dir.File($"{wrong.Count}-{Guid.NewGuid():N}.gguf");
            VocabOnlyGguf.Write(path, data);
            using var model = LlamaCppModel.Load(path, vocabOnly: true);
            bool control = (model.TokenAttributes(256) & 8) != 0;
            if (control != LlamaCppControlTexts.Contains(text)) wrong.Add($"{text}: llama.cpp control={control}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }
}
