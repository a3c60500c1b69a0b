// GPTQ / AWQ folder → GGUF without re-quantizing: Q4_0 bit-exact for zero point 8, Q4_1 exact up to fp16 rounding of the minimum, clear errors otherwise.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

public sealed class PackedCheckpointGgufImportTests
{
    /// <summary>Writes the synthetic model as an hf-gptq or hf-awq folder with RTN on <paramref name="options"/>; returns the results by module.</summary>
    private static Dictionary<string, QuantizedLinear> WriteFolder(TempDirectory dir, string format, GptqOptions options, string outDir)
    {
        string src = SyntheticHfModel.Write(dir.File("src-" + Path.GetFileName(outDir)));
        var rec = new HfGptqExportTests.RecordingQuantizer(options.ActOrder ? new GptqLinearQuantizer(options) : new RtnLinearQuantizer(options));
        using var model = LlamaModel.Load(src);
        var rng = new Random(7);
        var calib = options.ActOrder ? new CalibrationSet([.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(SyntheticHfModel.Vocab)).ToArray())], "random") : null;
        var runner = new LayerStreamingQuantizer(model, rec, calib, new LayerStreamingOptions { TemporaryDirectory = dir.Path });
        if (format == "hf-awq") HfAwqExporter.Export(model, runner, options, outDir);
        else HfGptqExporter.Export(model, runner, options, outDir, "gptq_v2");
        return rec.Results;
    }

    [Theory]
    [InlineData("hf-gptq", true, 32)]
    [InlineData("hf-gptq", false, 32)]
    [InlineData("hf-gptq", false, 64)]
    [InlineData("hf-gptq", true, 0)]
    [InlineData("hf-awq", false, 32)]
    [InlineData("hf-awq", true, 64)]
    public void FourBitGridsBecomeQ4BlocksHoldingTheSameWeights(string format, bool symmetric, int groupSize)
    {
        using var dir = new TempDirectory();
        string folder = dir.File("folder"), gguf = dir.File("out.gguf");
        var results = WriteFolder(dir, format, new GptqOptions { Bits = 4, GroupSize = groupSize, Symmetric = symmetric }, folder);
        var expectedType = symmetric ? GgmlType.Q4_0 : GgmlType.Q4_1;
        using (var m = LlamaModel.Load(folder))
        {
            var (encoding, tensors) = PackedCheckpointGgufImport.Encoding(m);
            Assert.Equal(SyntheticHfModel.Layers * 7, tensors.Count);
            Assert.All(tensors, t => Assert.Equal(expectedType, t.Type));
            // The minimum's fp16 rounding is at most half an fp16 ulp of |m| ≤ 16 steps: 2^-11 · 16 = 2^-7 of a step.
            Assert.All(tensors, t => Assert.InRange(t.MaxMinimumRounding, 0, symmetric ? 0 : 1.0 / 128));
            GgufLlamaExporter.Export(m, gguf, encoding);
        }
        using var file = new GgufFile(gguf);
        Assert.Equal(symmetric ? 2u : 3u, file.Metadata.GetUInt32(LlamaGgufNames.FileType));
        Assert.Equal(GgmlType.F16, file.GetInfo("token_embd.weight").Type);
        var gguf2 = TensorNaming.Gguf;
        for (int l = 0; l < SyntheticHfModel.Layers; l++)
            foreach (var k in LlamaLinearExtensions.All)
            {
                var grid = results[k.HfModule(l)].Grid!;
                string name = gguf2.Name(k.Role(), l);
                Assert.Equal(expectedType, file.GetInfo(name).Type);
                var raw = file.GetRawBytes(name);
                int rowBytes = raw.Length / grid.Rows;
                var row = new float[grid.Cols];
                for (int r = 0; r < grid.Rows; r++)
                {
                    // q/k rows are in GGUF's interleaved RoPE order: row r holds the checkpoint's row SourceRow(r).
                    int o = k is LlamaLinear.Q or LlamaLinear.K ? RopePermutation.SourceRow(r, 32) : r;
                    BlockDequantizer.DequantizeRow(expectedType == GgmlType.Q4_0 ? DType.Q4_0 : DType.Q4_1, raw.Slice(r * rowBytes, rowBytes), row);
                    for (int c = 0; c < grid.Cols; c++)
                    {
                        float want = grid.Dequantized[o * grid.Cols + c];
                        if (symmetric) { Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(row[c])); continue; }
                        int g = grid.GroupIndex[c];
                        float s = grid.Scales[g * grid.Rows + o];
                        double bound = Math.Abs(s * grid.Zeros[g * grid.Rows + o]) * Math.Pow(2, -11) + Math.Abs(want) * Math.Pow(2, -22);
                        Assert.True(Math.Abs(row[c] - want) <= bound, $"{name} [{r}, {c}]: {row[c]} vs {want} (bound {bound})");
                    }
                }
            }
        // Our engine loads the file (the llama.cpp check is PackedCheckpointImportOracleTests on a real model).
        using var loaded = LlamaModel.Load(gguf);
        Assert.Equal(SyntheticHfModel.Layers, loaded.Layers.Length);
    }

    [Fact]
    public void GridsWithoutAnExactGgmlBlockAreRefusedNamingTheModule()
    {
        using var dir = new TempDirectory();
        string threeBit = dir.File("three"), actOrder = dir.File("act");
        WriteFolder(dir, "hf-gptq", new GptqOptions { Bits = 3, GroupSize = 32 }, threeBit);
        WriteFolder(dir, "hf-gptq", new GptqOptions { Bits = 4, GroupSize = 32, ActOrder = true }, actOrder);
        using (var m = LlamaModel.Load(threeBit))
        {
            var e = Assert.Throws<NotSupportedException>(() => PackedCheckpointGgufImport.Encoding(m));
            Assert.Contains("model.layers.0.self_attn.q_proj.weight", e.Message);
            Assert.Contains("3-bit", e.Message);
            Assert.Contains("--outtype f16", e.Message);
        }
        using (var m = LlamaModel.Load(actOrder))
        {
            var e = Assert.Throws<NotSupportedException>(() => PackedCheckpointGgufImport.Encoding(m));
            Assert.Contains("span groups", e.Message);
        }
        using var plain = LlamaModel.Load(SyntheticHfModel.Write(dir.File("plain")));
        Assert.Contains("not a GPTQ or AWQ checkpoint", Assert.Throws<NotSupportedException>(() => PackedCheckpointGgufImport.Encoding(plain)).Message);
    }
}
