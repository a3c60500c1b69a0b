// The tokenizer as GGUF stores it: the bridge between tokenizer files and tokenizer.ggml.* metadata.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>llama.cpp's token types (tokenizer.ggml.token_type).</summary>
public enum GgufTokenType
{
    /// <summary>Undefined.</summary>
    Undefined = 0,
    /// <summary>Ordinary token.</summary>
    Normal = 1,
    /// <summary>Unknown token.</summary>
    Unknown = 2,
    /// <summary>Control token (BOS, EOS, …).</summary>
    Control = 3,
    /// <summary>User-defined added token.</summary>
    UserDefined = 4,
    /// <summary>Unused slot.</summary>
    Unused = 5,
    /// <summary>Byte-fallback token such as &lt;0x0A&gt;.</summary>
    Byte = 6,
}

/// <summary>
/// A vocabulary in GGUF terms. <see cref="Model"/> is llama.cpp's tokenizer.ggml.model
/// ("gpt2" for byte-level BPE, "llama" for SentencePiece-style BPE); <see cref="Pre"/> is
/// tokenizer.ggml.pre (the pre-tokenizer regex family, e.g. "gpt-2", "llama-bpe", "qwen2").
/// </summary>
public sealed record TokenizerData(
    string Model,
    string? Pre,
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float>? Scores,
    IReadOnlyList<GgufTokenType> TokenTypes,
    IReadOnlyList<string>? Merges,
    int? BosId,
    int? EosId,
    int? UnknownId,
    int? PaddingId,
    bool AddBos,
    bool AddEos,
    bool AddSpacePrefix);
