// Our GGUF export, tokenizers and engine against llama.cpp b8390 on the real models.
using QuantSharp.Evaluation;
using QuantSharp.LlamaCpp;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.LlamaCpp;

namespace QuantSharp.Tests.Oracle;

[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class LlamaCppAgreementTests(ConvertedModels models, Xunit.Abstractions.ITestOutputHelper output)
{
    private static string SotuText => File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt"));

    [OracleFact]
    public void SotuTokenizationOfTheWholeTestFileMatchesLlamaCpp()
    {
        using var ours = LlamaModel.Load(models.SotuFolder);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        string text = SotuText;
        int[] a = ours.Tokenizer!.Encode(text);
        int[] b = cpp.Tokenize(text, addSpecial: false, parseSpecial: true);
        Assert.Equal(106653, a.Length);
        Assert.Equal(b, a);
    }

    [OracleFact]
    public void StoriesTokenizationMatchesLlamaCppOnEveryStory()
    {
        using var ours = LlamaModel.Load(models.StoriesGguf);
        using var cpp = LlamaCppModel.Load(models.StoriesGguf);
        var docs = DocumentSplitter.Split(File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt")));
        Assert.Equal(24, docs.Count);
        foreach (var d in docs)
            Assert.Equal(cpp.Tokenize(d, addSpecial: true, parseSpecial: false), ours.Tokenizer!.Encode(d, addBos: true));
    }

    [OracleFact]
    public void SotuLogitsOnA512TokenWindowMatchLlamaCpp()
    {
        using var ggufModel = LlamaModel.Load(models.SotuGguf);
        using var hfModel = LlamaModel.Load(models.SotuFolder);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        using var ctx = cpp.CreateContext(512, 512, threads: 2, f32Cache: true);
        int[] tokens = hfModel.Tokenizer!.Encode(SotuText)[..512];
        float[] reference = ctx.Evaluate(tokens);
        float min = reference.Min(), max = reference.Max();
        foreach (var model in new[] { ggufModel, hfModel })
        {
            var ours = new float[reference.Length];
            new InferenceSession(model, 512).Forward(tokens, ours, allLogits: true);
            float worst = 0;
            for (int i = 0; i < ours.Length; i++) worst = Math.Max(worst, Math.Abs(ours[i] - reference[i]));
            Assert.True(worst <= 1e-3f * (max - min), $"{model.Format}: max |Δ| {worst} vs logit range {max - min}");
        }
    }

    [OracleFact]
    public void SotuLlamaCppStylePerplexityAgreesWithLlamaCppWithinATenthOfAPercent()
    {
        using var ours = LlamaModel.Load(models.SotuGguf);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        using var ctx = cpp.CreateContext(512, 512, threads: 2, f32Cache: true);
        var tok = ours.Tokenizer!;
        var data = tok.ToTokenizerData();
        int[] tokens = tok.Encode(SotuText, addBos: data.AddBos);
        int? bos = data.AddBos ? tok.BosId : null;
        // The first 64 of the 208 windows (ReferencePerplexityTests scores all 208 in our engine): each engine runs
        // every window once, and with an exact F32 cache (flash attention off) llama.cpp takes minutes over all of them.
        var a = new PerplexityEvaluator(new SessionLogitsProvider(ours, 512)).Evaluate(tokens, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 64);
        var b = new PerplexityEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(tokens, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 64);
        Assert.Equal(64, a.Windows);
        Assert.Equal(64 * 255, a.ScoredTokens);
        Assert.True(Math.Abs(a.Perplexity / b.Perplexity - 1) < 1e-3, $"ours {a} vs llama.cpp {b}");
    }

    [OracleFact]
    public void GreedyGenerationMatchesLlamaCppOnBothModels()
    {
        foreach (var (path, prompt) in new[] { (models.SotuGguf, "The state of our union is"), (models.StoriesGguf, "Once upon a time") })
        {
            using var ours = LlamaModel.Load(path);
            using var cpp = LlamaCppModel.Load(path);
            using var ctx = cpp.CreateContext(256, 256, threads: 2, f32Cache: true);
            var data = ours.Tokenizer!.ToTokenizerData();
            int[] promptTokens = ours.Tokenizer.Encode(prompt, addBos: data.AddBos);
            Assert.Equal(cpp.Tokenize(prompt, addSpecial: true, parseSpecial: false), promptTokens);
            // Generate through end-of-text tokens so that 48 tokens are compared, not just the first sentence.
            int[] expected = ctx.GreedyGenerate(promptTokens, 48, stopAtEndOfGeneration: false);
            var got = new TextGenerator(ours, new InferenceSession(ours, 256), new TokenSampler()).Generate(promptTokens, 48, stopAtEos: false);
            Assert.Equal(48, expected.Length);
            Assert.Equal(expected, got.ToArray());
        }
    }

    /// <summary>
    /// An fp16 KV cache (llama.cpp's default) against llama.cpp's own fp16 cache: the logits of a 512-token window
    /// agree to the same bound as the fp32 caches do, our fp16 and fp32 sessions differ by no more than llama.cpp's
    /// two caches do, the llama.cpp-style perplexity agrees within 0.1 % over the first 16 windows, and the cache
    /// takes half the bytes.
    /// </summary>
    [OracleFact]
    public void AnF16KvCacheAgreesWithLlamaCppsF16Cache()
    {
        using var ours = LlamaModel.Load(models.SotuGguf);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        using var ctx16 = cpp.CreateContext(512, 512, threads: 2, f32Cache: false);
        using var ctx32 = cpp.CreateContext(512, 512, threads: 2, f32Cache: true);
        int[] tokens = ours.Tokenizer!.Encode(SotuText)[..512];
        float[] cpp16 = ctx16.Evaluate(tokens), cpp32 = ctx32.Evaluate(tokens);
        var session16 = new InferenceSession(ours, 512, kvCache: KvCacheType.F16);
        var session32 = new InferenceSession(ours, 512);
        Assert.Equal(session32.KvCacheBytes, 2 * session16.KvCacheBytes);
        var ours16 = new float[cpp16.Length];
        var ours32 = new float[cpp16.Length];
        session16.Forward(tokens, ours16, allLogits: true);
        session32.Forward(tokens, ours32, allLogits: true);
        float range = cpp32.Max() - cpp32.Min();
        float vsCpp = MaxAbsDiff(ours16, cpp16), oursShift = MaxAbsDiff(ours16, ours32), cppShift = MaxAbsDiff(cpp16, cpp32);
        output.WriteLine($"logit range {range}; max |Δ| ours fp16 vs llama.cpp fp16 {vsCpp}, ours fp32 vs llama.cpp fp32 {MaxAbsDiff(ours32, cpp32)}, ours fp16 vs llama.cpp fp32 {MaxAbsDiff(ours16, cpp32)}; fp16 vs fp32 cache: ours {oursShift}, llama.cpp {cppShift}");
        Assert.True(vsCpp <= 1e-3f * range, $"fp16 caches: max |Δ| {vsCpp} vs logit range {range}");
        Assert.True(oursShift > 0, "the fp16 cache changed no logit: it is not in use");
        Assert.True(oursShift <= 2 * cppShift + 1e-4f * range, $"fp16 vs fp32 cache: ours moves the logits by {oursShift}, llama.cpp's by {cppShift}");

        var tok = ours.Tokenizer;
        var data = tok.ToTokenizerData();
        int[] all = tok.Encode(SotuText, addBos: data.AddBos);
        int? bos = data.AddBos ? tok.BosId : null;
        var a = new PerplexityEvaluator(new SessionLogitsProvider(ours, 512, KvCacheType.F16)).Evaluate(all, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 16);
        var b = new PerplexityEvaluator(new LlamaCppLogitsProvider(ctx16)).Evaluate(all, 512, PerplexityStyle.LlamaCpp, bos, maxWindows: 16);
        output.WriteLine($"llama.cpp-style PPL, 16 windows, fp16 caches: ours {a.Perplexity:F4}, llama.cpp {b.Perplexity:F4}");
        Assert.True(Math.Abs(a.Perplexity / b.Perplexity - 1) < 1e-3, $"ours {a} vs llama.cpp {b} (fp16 caches)");
    }

    private static float MaxAbsDiff(float[] x, float[] y)
    {
        float worst = 0;
        for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Math.Abs(x[i] - y[i]));
        return worst;
    }
}
