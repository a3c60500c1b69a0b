// Writes a GGUF that holds only a vocabulary (tokenizer.ggml.*) and the llama hyperparameters llama.cpp's loader reads.
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Tokenizers;
using N = QuantSharp.Formats.Gguf.LlamaGgufNames;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// A tensor-free "llama" GGUF carrying <see cref="TokenizerData"/>: llama.cpp loads it with
/// vocab_only and tokenizes exactly as it would the full model with the same metadata.
/// </summary>
internal static class VocabOnlyGguf
{
    /// <summary>Writes the file; keys named in <paramref name="omit"/> are left out (to see llama.cpp's defaults).</summary>
    public static void Write(string path, TokenizerData tokenizer, params string[] omit)
    {
        const string arch = "llama";
        var w = new GgufWriter();
        var m = w.Metadata;
        m.SetString(N.Architecture, arch);
        m.SetString(N.Name, "quantsharp-vocab-only");
        // Hyperparameters llama.cpp reads before the vocabulary; the values are never used.
        m.SetUInt32(N.ContextLength(arch), 128);
        m.SetUInt32(N.EmbeddingLength(arch), 64);
        m.SetUInt32(N.BlockCount(arch), 1);
        m.SetUInt32(N.FeedForwardLength(arch), 128);
        m.SetUInt32(N.HeadCount(arch), 2);
        m.SetUInt32(N.HeadCountKv(arch), 2);
        m.SetFloat32(N.RmsNormEpsilon(arch), 1e-5f);
        m.SetUInt32(N.VocabSize(arch), (uint)tokenizer.Tokens.Count);
        GgufTokenizerMetadata.Write(w, tokenizer);
        foreach (var key in omit) m.Remove(key);
        w.WriteFile(path);
    }

    /// <summary>Reads the vocabulary back from <paramref name="path"/> as a GGUF-loaded model would.</summary>
    public static TokenizerData Read(string path)
    {
        using var file = new GgufFile(path);
        return GgufTokenizerMetadata.Read(file.Metadata);
    }
}
