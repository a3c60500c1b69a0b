// AWQ's scale folding alone keeps sotu-llama-30m's function, and the exporters write the folded norms the run used.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Awq;

[Trait("Category", "RealModel")]
public sealed class AwqFunctionTests(ITestOutputHelper output)
{
    /// <summary>No rounding at all: returns the weights it is given, so only AWQ's folding changes the model.</summary>
    private sealed class IdentityQuantizer : ILinearQuantizer
    {
        public string Name => "identity";
        public StatisticsNeeds Needs => StatisticsNeeds.None;
        public ILinearQuantizer WithoutData => this;
        public QuantizedLinear Quantize(LinearQuantizationInput input) => new() { Dequantized = (float[])input.Weight.Clone() };
    }

    private static float[] Logits(LlamaModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Parameters.VocabSize];
        new InferenceSession(model, 256).Forward(tokens, logits, allLogits: true);
        return logits;
    }

    internal static CalibrationSet Calibration(LlamaModel model, int samples, int length) =>
        CalibrationSet.RandomSegments(model.Tokenizer!, [SharedData.DataFile("sotu", "train-1790-2009.txt")], samples, length, 0);

    // Scales of a fixed α = 0.5 from real activations folded into norms and columns, nothing rounded: the logits of the
    // folded model stay within 1e-4 of the logit range of the original's.
    [Fact]
    public void AwqScaleFoldingAloneLeavesTheFunctionUnchanged()
    {
        using var dir = new TempDirectory();
        string source = SharedData.Model("sotu-llama-30m");
        using var model = LlamaModel.Load(source);
        var hp = model.Parameters;
        var names = hp.Architecture.HfNaming;
        var awq = new AwqLayerTransform(new AwqOptions { FixedAlpha = 0.5, Clip = false }, new IdentityQuantizer(), 128);
        var notes = new List<string>();
        var runner = new LayerStreamingQuantizer(model, new IdentityQuantizer(), Calibration(model, 4, 64),
            new LayerStreamingOptions { Transforms = [awq], Log = notes.Add, Storage = ActivationStorage.Memory });
        var weights = new InMemoryWeights("awq-folded");
        weights.Add(names.TokenEmbedding, model.TokenEmbedding.ToFloat32(), model.TokenEmbedding.Rows, model.TokenEmbedding.Columns);
        float maxNormChange = 0;
        foreach (var layer in runner.Run())
        {
            int i = layer.Index;
            weights.Add(names.AttentionNorm(i), layer.Vector(TensorRole.AttentionNorm), hp.Dim);
            weights.Add(names.FfnNorm(i), layer.Vector(TensorRole.FfnNorm), hp.Dim);
            foreach (var k in LlamaLinearExtensions.All)
            {
                var view = model.Layers[i].Weight(k);
                weights.Add(names.Name(k.Role(), i), layer[k].Dequantized, view.Rows, view.Columns);
            }
            for (int j = 0; j < hp.Dim; j++)
            {
                float ratio = layer.Vector(TensorRole.AttentionNorm)[j] / model.Layers[i].AttentionNorm[j];
                maxNormChange = Math.Max(maxNormChange, Math.Max(ratio, 1 / ratio) - 1);
            }
        }
        weights.Add(names.OutputNorm, model.OutputNorm, hp.Dim);
        string folded = dir.File("folded");
        HfFloatCheckpointWriter.Write(source, weights, DType.F32, hp.TiedEmbeddings, folded);
        foreach (var n in notes) output.WriteLine(n);

        using var reloaded = LlamaModel.Load(folded);
        var tokens = model.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: false)[..96];
        var a = Logits(model, tokens);
        var b = Logits(reloaded, tokens);
        float range = a.Max() - a.Min(), worst = 0;
        for (int j = 0; j < a.Length; j++) worst = Math.Max(worst, Math.Abs(a[j] - b[j]));
        output.WriteLine($"max |Δlogit| {worst:E3} of range {range:F3} ({worst / range:E2}); largest attention-norm change ×{1 + maxNormChange:F2}");
        // The folding did something (this model's activations are fairly even across channels: scales of α = 0.5 move
        // the norms by up to ~1.4×), and the function did not change.
        Assert.True(maxNormChange > 0.2, $"the attention norms changed by at most {maxNormChange:P1}: the scales are trivial");
        Assert.True(worst / range <= 1e-4, $"max |Δlogit| {worst} is {worst / range:E2} of the range {range}");
    }
}
