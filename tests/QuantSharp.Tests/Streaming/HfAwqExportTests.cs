// Hugging Face AWQ (GEMM) export: an AutoAWQ-style unpacker and our loader both give back exactly the engine's weights; bad AWQ configs are clear errors.
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Awq;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

public sealed class HfAwqExportTests
{
    // AutoAWQ's unpacking (awq/utils/packing_utils.py: unpack_awq, then reverse_awq_order with AWQ_REVERSE_ORDER), written
    // out independently of AwqPacking: every int32 [r, j] is shifted right by 0, 4, …, 28 into columns 8j … 8j+7, then the
    // columns of each run of 8 are permuted by the reverse order. Returns [packedRows, 8·width] (for qweight: [in, out]).
    private static readonly int[] AwqReverseOrder = [0, 4, 1, 5, 2, 6, 3, 7];

    private static int[,] AutoAwqUnpack(int[] packed, int packedRows, int width)
    {
        var shifted = new int[packedRows, width * 8];
        for (int r = 0; r < packedRows; r++)
            for (int j = 0; j < width; j++)
                for (int k = 0; k < 8; k++) shifted[r, j * 8 + k] = (packed[r * width + j] >> (4 * k)) & 0xF;
        var ordered = new int[packedRows, width * 8];
        for (int r = 0; r < packedRows; r++)
            for (int c = 0; c < width * 8; c++) ordered[r, c] = shifted[r, c / 8 * 8 + AwqReverseOrder[c % 8]];
        return ordered;
    }

    private static int[] I32(TensorView t) => MemoryMarshal.Cast<byte, int>(t.Bytes).ToArray();

    [Theory]
    [InlineData("rtn", false, 32)]
    [InlineData("rtn", true, 32)]
    [InlineData("rtn", false, 0)]
    [InlineData("gptq", false, 16)]
    [InlineData("gptq", true, 64)]
    public void AutoAwqUnpackerAndLoaderGiveBackExactlyTheEngineWeights(string method, bool symmetric, int groupSize)
    {
        using var dir = new TempDirectory();
        string src = SyntheticHfModel.Write(dir.File("src"));
        string outDir = dir.File("awq");
        var options = new GptqOptions { Bits = 4, GroupSize = groupSize, Symmetric = symmetric };
        bool gptq = method == "gptq";
        var rec = new HfGptqExportTests.RecordingQuantizer(gptq ? new GptqLinearQuantizer(options) : new RtnLinearQuantizer(options));
        using (var model = LlamaModel.Load(src))
        {
            var rng = new Random(5);
            var calib = gptq ? new CalibrationSet([.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(SyntheticHfModel.Vocab)).ToArray())], "random") : null;
            var runner = new LayerStreamingQuantizer(model, rec, calib, new LayerStreamingOptions { TemporaryDirectory = dir.Path });
            HfAwqExporter.Export(model, runner, options, outDir);
        }
        Assert.Empty(Directory.GetDirectories(dir.Path, "awq.tmp-*"));
        Assert.Equal(14, rec.Results.Count);

        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["quantization_config"]!.AsObject();
        Assert.Equal("awq", (string?)q["quant_method"]);
        Assert.Equal("gemm", (string?)q["version"]);
        Assert.Equal(4, (int)q["bits"]!);
        Assert.Equal(groupSize == 0 ? -1 : groupSize, (int)q["group_size"]!);
        Assert.True((bool)q["zero_point"]!);
        Assert.True(q.ContainsKey("modules_to_not_convert"));
        Assert.Null(q["modules_to_not_convert"]);

        using (var st = new SafetensorsFile(Path.Combine(outDir, "model.safetensors")))
        {
            foreach (var (module, r) in rec.Results)
            {
                var g = r.Grid!;
                int gs = groupSize == 0 ? g.Cols : groupSize;
                var qweight = st.Get(module + ".qweight");
                var qzeros = st.Get(module + ".qzeros");
                var scales = st.Get(module + ".scales");
                Assert.False(st.Contains(module + ".g_idx"));
                Assert.Equal(DType.I32, qweight.DType);
                Assert.Equal(new long[] { g.Cols, g.Rows / 8 }, qweight.Shape);
                Assert.Equal(DType.I32, qzeros.DType);
                Assert.Equal(new long[] { g.Cols / gs, g.Rows / 8 }, qzeros.Shape);
                Assert.Equal(DType.F16, scales.DType);
                Assert.Equal(new long[] { g.Cols / gs, g.Rows }, scales.Shape);
                var w = AutoAwqUnpack(I32(qweight), g.Cols, g.Rows / 8);      // [in, out]
                var z = AutoAwqUnpack(I32(qzeros), g.Cols / gs, g.Rows / 8);  // [groups, out], zeros stored as they are
                var s = scales.ToFloat32();
                if (symmetric) Assert.All(Enumerable.Range(0, g.Cols / gs), grp => Assert.All(Enumerable.Range(0, g.Rows), o => Assert.Equal(8, z[grp, o])));
                for (int o = 0; o < g.Rows; o++)
                    for (int c = 0; c < g.Cols; c++)
                    {
                        // AutoAWQ's dequantize_gemm: (iweight − izeros) · scales, groups repeated group_size times along in.
                        float expected = s[c / gs * g.Rows + o] * (w[c, o] - z[c / gs, o]);
                        Assert.Equal(BitConverter.SingleToInt32Bits(r.Dequantized[o * g.Cols + c]), BitConverter.SingleToInt32Bits(expected));
                    }
            }
        }
        using var loaded = LlamaModel.Load(outDir);
        Assert.Equal("hf-awq", loaded.Format);
        for (int l = 0; l < SyntheticHfModel.Layers; l++)
            foreach (var k in LlamaLinearExtensions.All)
                Assert.Equal(rec.Results[k.HfModule(l)].Dequantized, loaded.Layers[l].Weight(k).ToFloat32());
    }

    [Fact]
    public void PackingPutsOutputFeaturesInAwqOrderAndRoundTrips()
    {
        // One input column, outputs 0…7 holding the values 0…7: nibble i holds output AWQ_ORDER[i] = 0, 2, 4, 6, 1, 3, 5, 7.
        int[] q = [0, 1, 2, 3, 4, 5, 6, 7];
        Assert.Equal([0x75316420], AwqPacking.PackWeight(q, rows: 8, cols: 1, "t"));
        var rng = new Random(11);
        int rows = 64, cols = 96, groups = 3;
        var values = Enumerable.Range(0, rows * cols).Select(_ => rng.Next(16)).ToArray();
        Assert.Equal(values, AwqPacking.UnpackWeight(AwqPacking.PackWeight(values, rows, cols, "t"), rows, cols));
        var zeros = Enumerable.Range(0, groups * rows).Select(_ => rng.Next(16)).ToArray();
        Assert.Equal(zeros, AwqPacking.UnpackZeros(AwqPacking.PackZeros(zeros, groups, rows, "t"), groups, rows));
        values[7] = 16;
        Assert.Throws<ArgumentOutOfRangeException>(() => AwqPacking.PackWeight(values, rows, cols, "t"));
    }

    [Theory]
    [InlineData("""{"quant_method":"awq","version":"gemv","bits":4,"group_size":128,"zero_point":true}""", "version")]
    [InlineData("""{"quant_method":"awq","version":"exllama","bits":4,"group_size":128,"zero_point":true}""", "version")]
    [InlineData("""{"quant_method":"awq","version":"marlin","bits":4,"group_size":128,"zero_point":true}""", "version")]
    [InlineData("""{"quant_method":"awq","version":"gemm","bits":8,"group_size":128,"zero_point":true}""", "bits")]
    [InlineData("""{"quant_method":"awq","version":"gemm","bits":4,"group_size":128,"zero_point":false}""", "zero_point")]
    [InlineData("""{"quant_method":"awq","version":"gemm","bits":4,"group_size":128,"backend":"llm-awq"}""", "backend")]
    public void UnsupportedAwqVariantsAreRefusedNamingTheField(string quantizationConfig, string field)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), $$"""{"quantization_config":{{quantizationConfig}}}""");
        var e = Assert.Throws<NotSupportedException>(() => AwqQuantizationConfig.TryLoad(dir.Path));
        Assert.Contains($"quantization_config.{field}", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Theory]
    [InlineData("""{"quant_method":"awq","version":"GEMM","bits":"4"}""", "bits")]
    [InlineData("""{"quant_method":"awq","bits":4,"group_size":0}""", "group_size")]
    [InlineData("""{"quant_method":"awq","bits":4,"zero_point":"yes"}""", "zero_point")]
    [InlineData("""{"quant_method":"awq","bits":4,"modules_to_not_convert":"gate"}""", "modules_to_not_convert")]
    public void MalformedAwqConfigsAreInvalidData(string quantizationConfig, string field)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), $$"""{"quantization_config":{{quantizationConfig}}}""");
        var e = Assert.Throws<InvalidDataException>(() => AwqQuantizationConfig.TryLoad(dir.Path));
        Assert.Contains(field, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void AutoAwqsUpperCaseGemmIsReadAndOtherMethodsAreLeftToTheGptqReader()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), """{"quantization_config":{"quant_method":"awq","version":"GEMM","w_bit":4,"q_group_size":64,"zero_point":true}}""");
        Assert.Equal(64, AwqQuantizationConfig.TryLoad(dir.Path)!.GroupSize);
        File.WriteAllText(dir.File("config.json"), """{"quantization_config":{"quant_method":"gptq","bits":4}}""");
        Assert.Null(AwqQuantizationConfig.TryLoad(dir.Path));
    }

    [Fact]
    public void ExportRefusesWhatTheGemmLayoutCannotHold()
    {
        using var dir = new TempDirectory();
        string src = SyntheticHfModel.Write(dir.File("src"));
        using var model = LlamaModel.Load(src);
        var runner = new LayerStreamingQuantizer(model, new RtnLinearQuantizer(new GptqOptions { Bits = 3 }), null, new LayerStreamingOptions { TemporaryDirectory = dir.Path });
        Assert.Contains("4 bits", Assert.Throws<NotSupportedException>(() => HfAwqExporter.Export(model, runner, new GptqOptions { Bits = 3, GroupSize = 32 }, dir.File("a"))).Message);
        // 48 does not divide the 64 input features of q_proj: AWQ has whole groups only.
        var e = Assert.Throws<NotSupportedException>(() => HfAwqExporter.Export(model, runner, new GptqOptions { Bits = 4, GroupSize = 48 }, dir.File("b")));
        Assert.Contains("q_proj", e.Message);
        Assert.Contains("--group-size 48", e.Message);
        Assert.False(Directory.Exists(dir.File("a")) || Directory.Exists(dir.File("b")));
    }
}
