// Hugging Face GPTQ export: a reference unpacker (AutoGPTQ's formula) and our loader both give back exactly the engine's weights.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gptq;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

public sealed class HfGptqExportTests
{
    /// <summary>Keeps every result the wrapped quantizer returns.</summary>
    internal sealed class RecordingQuantizer(ILinearQuantizer inner) : ILinearQuantizer
    {
        private readonly Dictionary<string, QuantizedLinear> _results = [];
        /// <summary>Results by Hugging Face module (an expert's by its tensor name without ".weight").</summary>
        public Dictionary<string, QuantizedLinear> Results => _results;
        public string Name => inner.Name;
        public StatisticsNeeds Needs => inner.Needs;
        /// <summary>Records into the same table what the data-free fallback returns.</summary>
        public ILinearQuantizer WithoutData => ReferenceEquals(inner.WithoutData, inner) ? this : new RecordingQuantizer(inner.WithoutData, _results);
        private RecordingQuantizer(ILinearQuantizer inner, Dictionary<string, QuantizedLinear> results) : this(inner) => _results = results;
        public QuantizedLinear Quantize(LinearQuantizationInput input)
        {
            var r = inner.Quantize(input);
            Results[input.Expert < 0 ? input.Kind.HfModule(input.Layer) : input.Name[..^".weight".Length]] = r;
            return r;
        }
    }

    // AutoGPTQ's QuantLinear unpacking (qlinear_cuda_old forward), written out plainly: arithmetic
    // shifts of int32 words by the wf tables, the 3-bit straddle fix-ups, zeros + 1 (v1 format).
    private static int[,] ReferenceUnpackRows(int[] packed, int packedRows, int width, int bits)
    {
        int n = packedRows / bits * 32;
        var v = new int[n, width];
        for (int o = 0; o < width; o++)
        {
            if (bits != 3)
            {
                for (int i = 0; i < packedRows; i++)
                    for (int j = 0; j < 32 / bits; j++)
                        v[i * (32 / bits) + j, o] = (packed[i * width + o] >> (bits * j)) & ((1 << bits) - 1);
                continue;
            }
            int[][] wf = [[0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0], [0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31], [0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0]];
            for (int blk = 0; blk < packedRows / 3; blk++)
            {
                var t = new int[3, 12];
                for (int r = 0; r < 3; r++)
                    for (int k = 0; k < 12; k++) t[r, k] = (packed[(blk * 3 + r) * width + o] >> wf[r][k]) & 0x7;
                t[0, 10] = (t[0, 10] & 0x3) | ((t[1, 0] << 2) & 0x4);
                t[1, 11] = (t[1, 11] & 0x1) | ((t[2, 0] << 1) & 0x6);
                int idx = blk * 32;
                for (int k = 0; k < 11; k++) v[idx++, o] = t[0, k] & 7;
                for (int k = 1; k < 12; k++) v[idx++, o] = t[1, k] & 7;
                for (int k = 1; k < 11; k++) v[idx++, o] = t[2, k] & 7;
            }
        }
        return v;
    }

    private static int[] I32(TensorView t) => MemoryMarshal.Cast<byte, int>(t.Bytes).ToArray();

    [Theory]
    [InlineData(2, false, 32)]
    [InlineData(3, false, 32)]
    [InlineData(4, false, 32)]
    [InlineData(8, false, 32)]
    [InlineData(2, true, 32)]
    [InlineData(3, true, 32)]
    [InlineData(4, true, 16)]
    [InlineData(8, true, 0)]
    [InlineData(4, false, 0)]
    [InlineData(4, false, 32, "gptq")]
    [InlineData(3, true, 32, "gptq")]
    [InlineData(8, true, 16, "gptq")]
    [InlineData(2, false, 0, "gptq")]
    public void ReferenceUnpackerAndLoaderGiveBackExactlyTheEngineWeights(int bits, bool actOrder, int groupSize, string method = "rtn")
    {
        using var dir = new TempDirectory();
        string src = SyntheticHfModel.Write(dir.File("src"));
        string outDir = dir.File("gptq");
        var options = new GptqOptions { Bits = bits, GroupSize = groupSize, ActOrder = actOrder };
        bool gptq = method == "gptq";
        var rec = new RecordingQuantizer(gptq ? new GptqLinearQuantizer(options) : new RtnLinearQuantizer(options));
        using (var model = LlamaModel.Load(src))
        {
            var rng = new Random(3);
            var calib = actOrder || gptq ? new CalibrationSet([.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(SyntheticHfModel.Vocab)).ToArray())], "random") : null;
            var runner = new LayerStreamingQuantizer(model, rec, calib, new LayerStreamingOptions { TemporaryDirectory = dir.Path });
            HfGptqExporter.Export(model, runner, options, outDir);
        }
        Assert.Empty(Directory.GetDirectories(dir.Path, "gptq.tmp-*"));
        Assert.Equal(14, rec.Results.Count);
        using (var st = new SafetensorsFile(Path.Combine(outDir, "model.safetensors")))
        {
            foreach (var (module, q) in rec.Results)
            {
                var g = q.Grid!;
                var qweight = st.Get(module + ".qweight");
                var qzeros = st.Get(module + ".qzeros");
                var scales = st.Get(module + ".scales");
                var gIdx = I32(st.Get(module + ".g_idx"));
                Assert.Equal(DType.I32, qweight.DType);
                Assert.Equal(new long[] { g.Cols / 32 * bits, g.Rows }, qweight.Shape);
                Assert.Equal(new long[] { g.Groups, g.Rows / 32 * bits }, qzeros.Shape);
                Assert.Equal(DType.F16, scales.DType);
                Assert.Equal(new long[] { g.Groups, g.Rows }, scales.Shape);
                Assert.Equal(g.GroupIndex, gIdx);
                if (actOrder && groupSize > 0) Assert.Contains(Enumerable.Range(1, g.Cols - 1), c => gIdx[c] < gIdx[c - 1]);
                var w = ReferenceUnpackRows(I32(qweight), (int)qweight.Shape[0], g.Rows, bits);       // [in, out]
                var zT = ReferenceUnpackRows(Transpose(I32(qzeros), g.Groups, g.Rows / 32 * bits), g.Rows / 32 * bits, g.Groups, bits); // [out, groups]
                var s = scales.ToFloat32();
                for (int o = 0; o < g.Rows; o++)
                    for (int c = 0; c < g.Cols; c++)
                    {
                        int grp = gIdx[c];
                        // fp16 scale times a small integer is exact in fp32 (transformers' fp16 arithmetic would round it).
                        float expected = s[grp * g.Rows + o] * (w[c, o] - (zT[o, grp] + 1));
                        Assert.Equal(BitConverter.SingleToInt32Bits(q.Dequantized[o * g.Cols + c]), BitConverter.SingleToInt32Bits(expected));
                    }
            }
        }
        Assert.Contains("\"quant_method\": \"gptq\"", File.ReadAllText(Path.Combine(outDir, "config.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        using var loaded = LlamaModel.Load(outDir);
        Assert.Equal("hf-gptq", loaded.Format);
        for (int l = 0; l < SyntheticHfModel.Layers; l++)
            foreach (var k in LlamaLinearExtensions.All)
            {
                var view = loaded.Layers[l].Weight(k);
                Assert.Equal(DType.F32, view.DType);
                Assert.Equal(rec.Results[k.HfModule(l)].Dequantized, view.ToFloat32());
            }
    }

    private static int[] Transpose(int[] m, int rows, int cols)
    {
        var t = new int[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
        return t;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void PackingRoundTripsAndMatchesTheReferenceLayout(int bits)
    {
        var rng = new Random(bits);
        int rows = 64, cols = 96;
        var q = Enumerable.Range(0, rows * cols).Select(_ => rng.Next(1 << bits)).ToArray();
        var packed = GptqPacking.PackWeight(q, rows, cols, bits);
        Assert.Equal(q, GptqPacking.UnpackWeight(packed, rows, cols, bits));
        var reference = ReferenceUnpackRows(packed, cols / 32 * bits, rows, bits);
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++) Assert.Equal(q[o * cols + c], reference[c, o]);
        var zeros = Enumerable.Range(0, 3 * rows).Select(_ => 1 + rng.Next((1 << bits) - 1)).ToArray();
        Assert.Equal(zeros, GptqPacking.UnpackZeros(GptqPacking.PackZeros(zeros, 3, rows, bits, true, "t"), 3, rows, bits, true));
        Assert.Equal(zeros, GptqPacking.UnpackZeros(GptqPacking.PackZeros(zeros, 3, rows, bits, false, "t"), 3, rows, bits, false));
        zeros[5] = 0;
        var ex = Assert.Throws<InvalidDataException>(() => GptqPacking.PackZeros(zeros, 3, rows, bits, true, "layer.q_proj"));
        Assert.Contains("gptq_v2", ex.Message);
    }

    [Fact]
    public void RtnGridKeepsFp16ScalesAndRoundsToTheNearestGridPoint()
    {
        var rng = new Random(9);
        int rows = 8, cols = 64;
        var w = Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() - 0.3) * 0.1f).ToArray();
        foreach (bool sym in new[] { true, false })
        {
            var r = RtnGridQuantizer.Quantize(w, rows, cols, new GptqOptions { Bits = 4, GroupSize = 16, Symmetric = sym });
            Assert.Equal(4, r.Groups);
            for (int o = 0; o < rows; o++)
                for (int c = 0; c < cols; c++)
                {
                    int g = c / 16;
                    float s = r.Scales[g * rows + o];
                    Assert.Equal(s, (float)(Half)s);
                    int z = r.Zeros[g * rows + o];
                    if (sym) Assert.Equal(8, z);
                    int v = r.QuantizedValues[o * cols + c];
                    Assert.InRange(v, 0, 15);
                    Assert.Equal(s * (v - z), r.Dequantized[o * cols + c]);
                    // The nearest grid point unless clamped at the ends of the grid.
                    float err = Math.Abs(w[o * cols + c] - r.Dequantized[o * cols + c]);
                    if (v is > 0 and < 15) Assert.True(err <= 0.5f * s * 1.0001f, $"error {err} > half a step {s / 2}");
                }
        }
    }
}
