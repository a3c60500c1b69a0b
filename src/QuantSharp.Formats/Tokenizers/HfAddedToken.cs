// One entry of tokenizer.json's "added_tokens": text that is matched verbatim before any pre-tokenization.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>An added token of a Hugging Face tokenizer.json.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">The text it stands for, matched verbatim.</param>
/// <param name="Special">Special tokens (BOS, EOS, chat markers) are Control tokens in GGUF.</param>
/// <param name="LStrip">Swallow whitespace on its left when matched.</param>
/// <param name="RStrip">Swallow whitespace on its right when matched.</param>
/// <param name="SingleWord">HF's single_word flag (only match as a whole word).</param>
public sealed record HfAddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool SingleWord);
