// The token texts llama.cpp (b8390) makes control tokens whatever type the vocabulary gives them.
using System.Collections.Frozen;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// llama.cpp recognises end-of-generation and fill-in-the-middle tokens by their text when it loads a
/// vocabulary and adds the CONTROL attribute to them, so they are cut out of text as special tokens
/// even when the vocabulary calls them normal (Qwen's "&lt;/s&gt;" is an ordinary token to HF, one
/// control token to llama.cpp). A tokenizer that must match llama.cpp on a GGUF applies the same rule.
/// </summary>
/// <remarks>
/// The set was read off llama.cpp b8390 by loading one-token vocabularies (LlamaCppControlTextsTests
/// checks it against the library). llama.cpp promotes only the first FIM spelling of each kind it
/// finds that is not also an end-of-generation text; vocabularies holding two spellings of one kind
/// do not occur in practice, and here both count.
/// </remarks>
public static class LlamaCppControlTexts
{
    /// <summary>The texts, end-of-generation first, then fill-in-the-middle prefix, suffix, middle, pad, repo and separator.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<｜end▁of▁sentence｜>", "<end_of_utterance>", "<|eom_id|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "</s>",
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
        "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
        "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
        "<|file_sep|>",
    ];

    private static readonly FrozenSet<string> Set = All.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Whether llama.cpp treats a token with this text as a control token.</summary>
    public static bool Contains(string tokenText) => Set.Contains(tokenText);
}
