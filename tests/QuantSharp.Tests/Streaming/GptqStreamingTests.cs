// GPTQ plugged into the layer-streaming runner: a GGUF of GPTQ-rounded blocks loads back as exactly the weights the run fed forward.
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

public sealed class GptqStreamingTests
{
    [Theory]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.IQ4_NL)]
    [InlineData(DType.Q8_0)]
    public void GptqGgufFileHoldsTheBlocksTheRunUsed(DType type)
    {
        using var dir = new TempDirectory();
        string src = SyntheticHfModel.Write(dir.File("src"));
        string output = dir.File("gptq.gguf");
        var rec = new HfGptqExportTests.RecordingQuantizer(new GptqGgufLinearQuantizer(new GptqBlockOptions { Type = type }));
        var rng = new Random(5);
        var calib = new CalibrationSet([.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(SyntheticHfModel.Vocab)).ToArray())], "random");
        var rtn = new Dictionary<string, float[]>();
        using (var model = LlamaModel.Load(src))
        {
            var runner = new LayerStreamingQuantizer(model, rec, calib, new LayerStreamingOptions { TemporaryDirectory = dir.Path });
            GgufStreamingExport.Export(model, runner, type, output);
            foreach (var k in new[] { LlamaLinear.V, LlamaLinear.Down })
            {
                var w = model.Layers[1].Weight(k);
                rtn[k.HfModule(1)] = new RtnGgufLinearQuantizer(type).Quantize(new LinearQuantizationInput
                {
                    Layer = 1, Kind = k, Name = w.Name, Rows = (int)w.Rows, Cols = (int)w.Columns, Weight = w.ToFloat32(),
                }).Dequantized;
            }
        }
        Assert.Equal(14, rec.Results.Count);
        using var loaded = LlamaModel.Load(output);
        // q/k are stored with GGUF's RoPE row permutation; the other linears keep HF's row order.
        foreach (var k in new[] { LlamaLinear.V, LlamaLinear.O, LlamaLinear.Gate, LlamaLinear.Up, LlamaLinear.Down })
            for (int l = 0; l < SyntheticHfModel.Layers; l++)
            {
                var view = loaded.Layers[l].Weight(k);
                Assert.Equal(type, view.DType);
                var q = rec.Results[k.HfModule(l)];
                Assert.Equal(type, q.GgufType);
                Assert.Equal(q.Dequantized, view.ToFloat32());
            }
        // Error feedback changes the rounding of later layers' weights relative to plain round-to-nearest.
        Assert.Contains(rtn, kv => !kv.Value.AsSpan().SequenceEqual(rec.Results[kv.Key].Dequantized));
    }
}
