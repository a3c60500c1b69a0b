// The reference perplexities of the two real models (models README), measured by our engine.
using QuantSharp.Evaluation;
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Evaluation;

[Trait("Category", "RealModel")]
public sealed class ReferencePerplexityTests
{
    [Fact]
    public void SotuGptqStylePerplexityIsTheReference83Point6()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        int[] tokens = model.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")));
        var r = new PerplexityEvaluator(new SessionLogitsProvider(model, 512)).Evaluate(tokens, 512, PerplexityStyle.Gptq);
        Assert.Equal(208, r.Windows);
        Assert.Equal(208 * 511, r.ScoredTokens);
        Assert.InRange(r.Perplexity, 83.4, 83.8);
    }

    [Fact]
    public void Stories260KPerplexityOverTheValidationSampleIs3Point33()
    {
        using var model = LlamaModel.Load(SharedData.Model("stories260K", "stories260K.bin"));
        var tok = model.Tokenizer!;
        var docs = DocumentSplitter.Split(File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt")));
        var encoded = docs.ConvertAll(d => tok.Encode(d, addBos: true));
        var r = new PerplexityEvaluator(new SessionLogitsProvider(model, 512)).EvaluateDocuments(encoded, 512);
        Assert.Equal(7902, r.ScoredTokens);
        Assert.InRange(r.Perplexity, 3.31, 3.35);
    }
}
