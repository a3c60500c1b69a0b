// Picks and loads the right tokenizer implementation for a model folder or tokenizer file.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>Loads a tokenizer from a model folder, a tokenizer.json or a llama2.c tokenizer .bin.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Loads the tokenizer at <paramref name="pathOrFolder"/>: a folder holding tokenizer.json, a
    /// tokenizer.json itself, or a llama2.c tokenizer file (.bin). tokenizer.json files with a BPE model
    /// are byte-level when their pre-tokenizer has a ByteLevel step, SentencePiece-style when they map
    /// spaces to "▁". Anything missing, malformed or unsupported throws an
    /// <see cref="InvalidDataException"/> (or <see cref="FileNotFoundException"/>) naming the file.
    /// </summary>
    /// <param name="pathOrFolder">Folder or file.</param>
    /// <param name="llama2cVocabSize">For llama2.c files: the model's vocab_size, or null to read to the end of the file.</param>
    public static ITextTokenizer Load(string pathOrFolder, int? llama2cVocabSize = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathOrFolder);
        string path = pathOrFolder;
        if (Directory.Exists(pathOrFolder))
        {
            path = Path.Combine(pathOrFolder, "tokenizer.json");
            if (!File.Exists(path))
            {
                // A folder with only a SentencePiece tokenizer.model is a real case we cannot read (yet).
                string hint = File.Exists(Path.Combine(pathOrFolder, "tokenizer.model")) ? " (tokenizer.model, SentencePiece protobuf, is not supported; a tokenizer.json is needed)" : "";
                throw new FileNotFoundException($"{pathOrFolder}: no tokenizer.json in this folder{hint}.", path);
            }
        }
        else if (!File.Exists(pathOrFolder))
        {
            throw new FileNotFoundException($"{pathOrFolder}: no such tokenizer file or folder.", pathOrFolder);
        }

        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return LoadJson(path);
        if (path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2cTokenizer.Load(path, llama2cVocabSize);
        throw new InvalidDataException($"{path}: unknown tokenizer file type (expected tokenizer.json or a llama2.c .bin).");
    }

    private static ITextTokenizer LoadJson(string path)
    {
        var json = HfTokenizerJson.Load(path);
        if (json.ModelType != "BPE") throw json.Bad($"tokenizer model type \"{json.ModelType}\" is not supported (only BPE)");
        if (ByteLevelBpeTokenizer.IsByteLevel(json)) return ByteLevelBpeTokenizer.FromJson(json);
        if (SentencePieceBpeTokenizer.IsSentencePieceStyle(json)) return SentencePieceBpeTokenizer.FromJson(json);
        throw json.Bad("BPE tokenizer with neither a ByteLevel pre-tokenizer nor a SentencePiece-style \"▁\" normalizer is not supported");
    }
}
