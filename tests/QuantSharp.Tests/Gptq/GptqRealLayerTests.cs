// GPTQ vs round-to-nearest on real sotu-llama-30m layers, with Hessians from real text run through the model.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Gptq;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Gptq;

/// <summary>
/// Calibration inputs, from the first tokens of the training text (data/sotu/train-1790-2009.txt):
/// blk.0 attn_q sees exactly attn_norm(token embedding), which is what it sees in the model;
/// blk.0 ffn_down sees SiLU(gate(x))·up(x) with x = ffn_norm(token embedding), i.e. the layer-0 MLP
/// input without the attention residual (a simplification: real text and real weights, but not the
/// exact activations of the full forward pass, which the calibration runner provides).
/// </summary>
[Trait("Category", "RealModel")]
public sealed class GptqRealLayerTests(ITestOutputHelper output)
{
    private const int Tokens = 4096;

    [Theory]
    [InlineData("attn_q")]
    [InlineData("ffn_down")]
    public void Gptq_beats_round_to_nearest_on_real_layers(string tensor)
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        var (weight, rows, cols, hessian) = Layer(model, tensor);
        output.WriteLine($"blk.0.{tensor}: W {rows}×{cols}, H from {Tokens} tokens");

        foreach (int bits in new[] { 2, 3, 4, 8 })
        {
            var o = new GptqOptions { Bits = bits, GroupSize = 128, Symmetric = true };
            var gptq = GptqQuantizer.Quantize(weight, rows, cols, hessian, o);
            var rtn = PlainGptq.RoundToNearest(weight, rows, cols, o).Select(v => (float)v).ToArray();
            double g = LayerObjective.Of(weight, gptq.Dequantized, rows, cols, hessian);
            double r = LayerObjective.Of(weight, rtn, rows, cols, hessian);
            output.WriteLine($"int{bits} g128 sym: GPTQ/RTN objective = {g / r:F4} (GPTQ {g:G4}, RTN {r:G4})");
            Assert.True(g < r, $"int{bits}: GPTQ {g:G4} vs RTN {r:G4}");
        }

        var diag = Enumerable.Range(0, cols).Select(c => (float)hessian[c * cols + c]).ToArray();
        foreach (var type in GptqBlockQuantizer.SupportedTypes)
        {
            double gNo = Objective(GptqBlockQuantizer.Quantize(weight, rows, cols, hessian, new GptqBlockOptions { Type = type, HessianImportance = false }).Dequantized);
            double gImp = Objective(GptqBlockQuantizer.Quantize(weight, rows, cols, hessian, new GptqBlockOptions { Type = type, HessianImportance = true }).Dequantized);
            double rNo = Objective(GptqBlockQuantizerTests.RoundToNearest(type, weight, rows, cols, null));
            double rImp = Objective(GptqBlockQuantizerTests.RoundToNearest(type, weight, rows, cols, diag));
            output.WriteLine($"{type,-7} objective / RTN(no imatrix): RTN+imp {rImp / rNo:F4}  GPTQ {gNo / rNo:F4}  GPTQ+imp {gImp / rNo:F4}");
            Assert.True(Math.Min(gNo, gImp) < Math.Min(rNo, rImp), $"{type}: best GPTQ {Math.Min(gNo, gImp):G4} vs best RTN {Math.Min(rNo, rImp):G4}");
        }

        double Objective(float[] q) => LayerObjective.Of(weight, q, rows, cols, hessian);
    }

    internal static (float[] Weight, int Rows, int Cols, double[] Hessian) Layer(LlamaModel model, string tensor)
    {
        var hp = model.Parameters;
        var text = File.ReadAllText(SharedData.DataFile("sotu", "train-1790-2009.txt"));
        var tokens = model.Tokenizer!.Encode(text[..200_000]);
        Assert.True(tokens.Length >= Tokens, $"only {tokens.Length} tokens");
        int dim = hp.Dim;
        var layer = model.Layers[0];
        var emb = new float[dim];
        var x = new float[Tokens * dim];
        var norm = tensor == "attn_q" ? layer.AttentionNorm : layer.FfnNorm;
        for (int t = 0; t < Tokens; t++)
        {
            FloatConversion.ToFloat32(model.TokenEmbedding.DType, model.TokenEmbedding.RowBytes(tokens[t]), emb);
            VectorOps.RmsNorm(emb, norm, hp.RmsNormEps, x.AsSpan(t * dim, dim));
        }
        TensorView w;
        float[] inputs;
        if (tensor == "attn_q")
        {
            w = layer.Wq;
            inputs = x;
        }
        else
        {
            w = layer.WDown;
            int hidden = hp.HiddenDim;
            var gate = new float[Tokens * hidden];
            var up = new float[Tokens * hidden];
            MatMul.Multiply(x, Tokens, layer.WGate, gate);
            MatMul.Multiply(x, Tokens, layer.WUp, up);
            VectorOps.SiluMul(gate, up, gate);
            inputs = gate;
        }
        int rows = (int)w.Rows, cols = (int)w.Columns;
        return (w.ToFloat32(), rows, cols, LayerObjective.Hessian(inputs, Tokens, cols));
    }
}
