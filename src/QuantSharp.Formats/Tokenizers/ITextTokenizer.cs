// The tokenizer contract shared by the forward pass, evaluation, the CLI and the GGUF writer.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>Turns text into token ids and back.</summary>
public interface ITextTokenizer
{
    /// <summary>Number of ids (including special tokens).</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, if the vocabulary has one.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, if the vocabulary has one.</summary>
    int? EosId { get; }

    /// <summary>
    /// Encodes <paramref name="text"/> exactly as the reference implementation of this tokenizer
    /// does (HF tokenizers for tokenizer.json, llama2.c's encoder for its tokenizer file).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="addBos">Prepend the BOS id.</param>
    /// <param name="addEos">Append the EOS id.</param>
    int[] Encode(string text, bool addBos = false, bool addEos = false);

    /// <summary>Decodes ids to text (invalid UTF-8 becomes U+FFFD).</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// The raw bytes one token stands for, for streaming output: callers concatenate bytes and
    /// decode UTF-8 incrementally. <paramref name="previous"/> lets SentencePiece drop the leading
    /// space of the first token after BOS, as llama2.c does.
    /// </summary>
    byte[] TokenBytes(int id, int? previous = null);

    /// <summary>The vocabulary in the form GGUF stores it (tokenizer.ggml.* keys).</summary>
    TokenizerData ToTokenizerData();
}
