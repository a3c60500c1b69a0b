// Writes a tiny random llama-architecture GGUF with our GgufWriter, for loading into llama.cpp.
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Tokenizers;
using N = QuantSharp.Formats.Gguf.LlamaGgufNames;

namespace QuantSharp.Tests.LlamaCpp;

/// <summary>
/// A 2-layer, 64-wide llama with a SentencePiece-style vocabulary (specials, all 256 byte tokens,
/// a few word pieces) and seeded random F32 weights. Small enough to run in milliseconds,
/// complete enough that llama.cpp's loader accepts it.
/// </summary>
internal static class TinyLlamaGguf
{
    public const int Dim = 64, Layers = 2, Heads = 2, KvHeads = 2, Ffn = 128, Context = 128;
    public const int HeadDim = Dim / Heads;

    public static readonly string[] Pieces = ["▁", "▁a", "▁b", "▁c", "▁the", "a", "b", "c", "t", "h", "e", "he", "▁he"];

    public static TokenizerData Tokenizer()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<GgufTokenType> { GgufTokenType.Unknown, GgufTokenType.Control, GgufTokenType.Control };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(GgufTokenType.Byte); }
        foreach (var p in Pieces) { tokens.Add(p); types.Add(GgufTokenType.Normal); }
        // SentencePiece merges by score: longer pieces score higher so "▁the" wins over its parts.
        var scores = tokens.Select((t, i) => i < 3 + 256 ? 0f : -100f + t.Length).ToArray();
        return new TokenizerData("llama", "default", tokens, scores, types, null,
            BosId: 1, EosId: 2, UnknownId: 0, PaddingId: null, AddBos: true, AddEos: false, AddSpacePrefix: true);
    }

    /// <summary>Writes the model to <paramref name="path"/>; <paramref name="tiedOutput"/> omits output.weight.</summary>
    public static TokenizerData Write(string path, int seed = 1234, bool tiedOutput = false)
    {
        var tok = Tokenizer();
        int vocab = tok.Tokens.Count;
        const string arch = "llama";
        var w = new GgufWriter();
        var m = w.Metadata;
        m.SetString(N.Architecture, arch);
        m.SetString(N.Name, "quantsharp-tiny-test");
        m.SetUInt32(N.ContextLength(arch), Context);
        m.SetUInt32(N.EmbeddingLength(arch), Dim);
        m.SetUInt32(N.BlockCount(arch), Layers);
        m.SetUInt32(N.FeedForwardLength(arch), Ffn);
        m.SetUInt32(N.HeadCount(arch), Heads);
        m.SetUInt32(N.HeadCountKv(arch), KvHeads);
        m.SetFloat32(N.RmsNormEpsilon(arch), 1e-5f);
        m.SetFloat32(N.RopeFreqBase(arch), 10000f);
        m.SetUInt32(N.RopeDimensionCount(arch), HeadDim);
        m.SetUInt32(N.VocabSize(arch), (uint)vocab);
        m.SetUInt32(N.FileType, 0); // LLAMA_FTYPE_ALL_F32
        GgufTokenizerMetadata.Write(w, tok);

        var rng = new Random(seed);
        float[] Random(long count, float scale)
            => Enumerable.Range(0, (int)count).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        float[] Ones(int count) => Enumerable.Repeat(1f, count).ToArray();
        void Matrix(string name, int rows, int cols) => w.AddTensor(name, [rows, cols], Random((long)rows * cols, 1f / MathF.Sqrt(cols)));

        Matrix(N.TokenEmbedding, vocab, Dim);
        for (int l = 0; l < Layers; l++)
        {
            w.AddTensor(N.AttentionNorm(l), [Dim], Ones(Dim));
            Matrix(N.AttentionQ(l), Heads * HeadDim, Dim);
            Matrix(N.AttentionK(l), KvHeads * HeadDim, Dim);
            Matrix(N.AttentionV(l), KvHeads * HeadDim, Dim);
            Matrix(N.AttentionOutput(l), Dim, Heads * HeadDim);
            w.AddTensor(N.FfnNorm(l), [Dim], Ones(Dim));
            Matrix(N.FfnGate(l), Ffn, Dim);
            Matrix(N.FfnUp(l), Ffn, Dim);
            Matrix(N.FfnDown(l), Dim, Ffn);
        }
        w.AddTensor(N.OutputNorm, [Dim], Ones(Dim));
        if (!tiedOutput) Matrix(N.Output, vocab, Dim);
        w.WriteFile(path);
        return tok;
    }
}
