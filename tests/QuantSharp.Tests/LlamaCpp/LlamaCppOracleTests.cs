// llama.cpp loads what our GgufWriter produces, and the oracle wrapper works end to end.
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.LlamaCpp;

[Trait("Category", "Oracle")]
public sealed class LlamaCppOracleTests
{
    private static bool AllFinite(float[] v) => v.All(float.IsFinite);

    [OracleFact]
    public void Loads_our_tiny_llama_and_returns_finite_logits_for_every_position()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        var tok = TinyLlamaGguf.Write(path);

        using var model = LlamaCppModel.Load(path);
        Assert.Equal(tok.Tokens.Count, model.VocabSize);
        Assert.Equal(TinyLlamaGguf.Dim, model.EmbeddingSize);
        Assert.Equal(TinyLlamaGguf.Layers, model.LayerCount);
        Assert.Equal(1, model.BosToken);
        Assert.Equal(2, model.EosToken);

        var tokens = model.Tokenize("the a b c", addSpecial: true, parseSpecial: false);
        Assert.Equal(1, tokens[0]);
        Assert.Equal(" the a b c", string.Concat(tokens.Skip(1).Select(t => model.TokenToPiece(t))));
        Assert.Equal(" the", model.TokenToPiece(tok.Tokens.ToList().IndexOf("▁the")));
        Assert.Equal(new[] { 1 }, model.Tokenize("<s>", addSpecial: false, parseSpecial: true));

        using var ctx = model.CreateContext(contextLength: 64, batchSize: 64, threads: 2);
        var logits = ctx.Evaluate(tokens);
        Assert.Equal(tokens.Length * model.VocabSize, logits.Length);
        Assert.True(AllFinite(logits));
        Assert.Contains(logits, x => x != 0);
        // Evaluate clears the cache first, so a second run is identical.
        Assert.Equal(logits, ctx.Evaluate(tokens));

        // Incremental decoding reproduces the batch logits of the last position.
        ctx.ClearMemory();
        float[] last = [];
        foreach (var t in tokens) last = ctx.DecodeNext(t);
        var batchLast = logits.AsSpan((tokens.Length - 1) * model.VocabSize).ToArray();
        for (int i = 0; i < last.Length; i++) Assert.Equal(batchLast[i], last[i], 1e-3f);

        var generated = ctx.GreedyGenerate(tokens, 5, stopAtEndOfGeneration: false);
        Assert.Equal(5, generated.Length);
        Assert.All(generated, g => Assert.InRange(g, 0, model.VocabSize - 1));
    }

    [OracleFact]
    public void Loads_a_model_with_tied_output_embedding()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tied.gguf");
        TinyLlamaGguf.Write(path, tiedOutput: true);
        using var model = LlamaCppModel.Load(path);
        using var ctx = model.CreateContext(32, 32, 1);
        Assert.True(AllFinite(ctx.Evaluate([1, 259, 260])));
    }

    [OracleFact]
    public void Quantizes_with_llama_cpp_and_our_reader_sees_the_block_types()
    {
        using var dir = new TempDirectory();
        var f32 = dir.File("tiny-f32.gguf");
        var q8 = dir.File("tiny-q8_0.gguf");
        TinyLlamaGguf.Write(f32);
        LlamaCppQuantizer.Quantize(f32, q8, LlamaFileType.MostlyQ8_0, threads: 2);

        using (var g = new GgufFile(q8))
        {
            Assert.Equal(GgmlType.Q8_0, g.GetInfo(LlamaGgufNames.AttentionQ(0)).Type);
            Assert.Equal(GgmlType.F32, g.GetInfo(LlamaGgufNames.AttentionNorm(0)).Type);
            Assert.Equal(34 * 2 * 64, g.GetRawBytes(LlamaGgufNames.AttentionQ(0)).Length);
            Assert.Equal(7u, g.Metadata.GetUInt32(LlamaGgufNames.FileType));
        }
        using var model = LlamaCppModel.Load(q8);
        using var ctx = model.CreateContext(32, 32, 2);
        Assert.True(AllFinite(ctx.Evaluate([1, 259, 260, 261])));
    }

    [OracleFact]
    public void Refusal_to_load_is_an_exception_not_a_crash()
    {
        using var dir = new TempDirectory();
        var path = dir.File("not-a-model.gguf");
        new GgufWriter().WriteFile(path);
        Assert.Throws<InvalidOperationException>(() => LlamaCppModel.Load(path));
    }
}
