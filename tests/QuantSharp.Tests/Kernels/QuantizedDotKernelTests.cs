// The integer dot kernels of Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4, Q2_K, Q3_K, Q5_K and IQ4_XS on weights from our own quantizers.
using System.Runtime.Intrinsics;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Quantization.BlockFormats;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// For each type, weights quantized by our BlockFormats (random rows and real sotu-llama-30m rows),
/// odd activation row counts (tiles of 4 with remainders) and several weight rows: (a) the scalar,
/// AVX2 and VNNI kernels give bit-identical outputs (the AVX-512 row-quad kernels, e.g. of Q2_K, Q3_K, Q5_K,
/// IQ4_NL and IQ4_XS, excepted: their own fixed order; types with GEMM tiles, such as Q4_0, reduce in the
/// row-quad order on every path, so for them AVX-512 agrees too), and (b) every path's output is the exact dot of the
/// dequantized weight row with the dequantized int8 activations up to fp32 accumulation rounding.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class QuantizedDotKernelTests(ITestOutputHelper output)
{
    /// <summary>The types whose kernels reduce in <see cref="LaneSums"/>' fixed order.</summary>
    private static readonly DType[] LaneExactTypes =
        [DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.IQ4_NL, DType.MXFP4, DType.Q2_K, DType.Q3_K, DType.Q5_K, DType.IQ4_XS];

    public static TheoryData<DType, string> TypeAndSource()
    {
        var data = new TheoryData<DType, string>();
        foreach (var t in LaneExactTypes.Concat(Enum.GetValues<DType>().Where(QuantizedMatMul.IsIsaExact)))
            foreach (var source in new[] { "random", "sotu gate_proj", "sotu down_proj" })
                data.Add(t, source);
        return data;
    }

    [Fact]
    public void EveryWeightTypeHasAnIntegerKernel()
    {
        foreach (var t in BlockTypes.All)
            Assert.Equal(t != DType.Q8_K, QuantizedMatMul.HasIntegerKernel(t));
    }

    /// <summary>The kernels' inlined fp16 → fp32 equals (float)Half on all 65536 bit patterns (NaN as NaN).</summary>
    [Fact]
    public void Fp16ConversionMatchesHalfForEveryBitPattern()
    {
        ushort* p = stackalloc ushort[1];
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            *p = (ushort)h;
            float want = (float)BitConverter.UInt16BitsToHalf((ushort)h), got = WeightBits.Fp16((byte*)p);
            if (float.IsNaN(want)) Assert.True(float.IsNaN(got), $"0x{h:X4}: {got} is not NaN");
            else Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got), $"0x{h:X4}: {got:R} vs {want:R}");
        }
    }

    /// <summary>The row-quad kernels' four- and eight-at-once fp16 → fp32 equal the scalar one on all 65536 bit patterns, in every lane.</summary>
    [Fact]
    public void Fp16x4ConversionMatchesScalarForEveryBitPattern()
    {
        ushort* p = stackalloc ushort[1];
        for (int h = 0; h <= ushort.MaxValue; h += 4)
        {
            // High halves of the lanes hold junk that must be ignored.
            var raw = Vector128.Create(h | 0x5A5A0000, (h + 1) | unchecked((int)0xFFFF0000), h + 2, (h + 3) | 0x12340000);
            var got = RowQuad.Fp16x4(raw);
            // The eight-wide twin (two blocks' scales at once) on the same values in both halves, swapped.
            var got8 = RowQuad.Fp16x8(Vector256.Create(raw, Vector128.Shuffle(raw, Vector128.Create(3, 2, 1, 0))));
            for (int lane = 0; lane < 4; lane++)
            {
                *p = (ushort)(h + lane);
                int want = BitConverter.SingleToInt32Bits(WeightBits.Fp16((byte*)p));
                Assert.True(want == BitConverter.SingleToInt32Bits(got.GetElement(lane)), $"0x{h + lane:X4} in lane {lane}: {got.GetElement(lane):R} vs {BitConverter.Int32BitsToSingle(want):R}");
                Assert.True(want == BitConverter.SingleToInt32Bits(got8.GetElement(lane)), $"x8 0x{h + lane:X4} in lane {lane}");
                Assert.True(want == BitConverter.SingleToInt32Bits(got8.GetElement(7 - lane)), $"x8 0x{h + lane:X4} in lane {7 - lane}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypeAndSource))]
    public void IsaPathsAgreeBitForBitAndMatchDequantizedDot(DType type, string source)
    {
        var (weights, n, k) = Weights(source);
        var packed = new byte[DTypeInfo.RowBytes(type, (long)n * k)];
        BlockQuantizer.QuantizeRows(type, weights, k, packed);
        var wq = new float[(long)n * k];
        BlockDequantizer.DequantizeRow(type, packed, wq);
        var rng = new Random(k + n + (int)type);
        double worst = 0;
        fixed (byte* pw = packed)
        {
            var view = new TensorView("w", type, [n, k], pw, packed.Length);
            foreach (int m in new[] { 1, 3, 5, 7 })
            {
                float[] a = Activations(rng, m, k);
                float[] aq = QuantizedOperands.Activations(type, a, m, k);
                float[]? first = null;
                KernelIsa firstIsa = default;
                var results = new List<(KernelIsa Isa, float[] C)>();
                foreach (var isa in new[] { KernelIsa.Scalar, KernelIsa.Avx2, KernelIsa.Avx512 })
                {
                    if (!KernelOptions.IsSupported(isa)) continue;
                    var c = new float[m * n];
                    using (new KernelScope(isa, 1)) MatMul.Multiply(a, m, view, c);
                    results.Add((isa, c));
                    // The AVX-512 row-quad kernels reduce in their own order: checked against the exact dot only.
                    if (isa == KernelIsa.Avx512 && QuantizedMatMul.HasRowQuadKernel(type) && !QuantizedMatMul.IsIsaExact(type)) continue;
                    if (first is null) { first = c; firstIsa = isa; continue; }
                    for (int i = 0; i < c.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(c[i]) == BitConverter.SingleToInt32Bits(first[i]),
                            $"{type} {source} M={m} [{i / n},{i % n}]: {isa} {c[i]:R} vs {firstIsa} {first[i]:R}");
                }
                for (int i = 0; i < m; i++)
                {
                    for (int r = 0; r < n; r++)
                    {
                        var (exact, mag) = QuantizedOperands.ExactDot(wq, aq, r, i, k);
                        foreach (var (isa, c) in results)
                        {
                            double err = Math.Abs(c[i * n + r] - exact);
                            Assert.True(err <= 2e-6 * mag + 1e-30, $"{type} {source} {isa} M={m} [{i},{r}]: {c[i * n + r]} vs {exact} (Σ|w·a| {mag})");
                            if (mag > 0) worst = Math.Max(worst, err / mag);
                        }
                    }
                }
            }
        }
        output.WriteLine($"{type} {source} ({n}x{k}), VNNI {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported}: max |Δ|/Σ|w·a| vs exact dot of dequantized operands {worst:E2}");
    }

    /// <summary>Weight rows: seeded random (with outliers), or the first rows of a real sotu-llama-30m layer.</summary>
    private static (float[] Values, int Rows, int Cols) Weights(string source)
    {
        if (source == "random") return (BlockTypes.RandomWeights(new Random(7), 19 * 1024), 19, 1024);
        string name = source == "sotu gate_proj" ? "model.layers.3.mlp.gate_proj.weight" : "model.layers.5.mlp.down_proj.weight";
        using var model = SafetensorsModel.Open(SharedData.Model("sotu-llama-30m"));
        var t = model.Get(name);
        int k = checked((int)t.Columns), n = 21;
        return (t.ToFloat32().AsSpan(0, n * k).ToArray(), n, k);
    }

    /// <summary>Roughly Gaussian activations with a few large channels, as hidden states look.</summary>
    private static float[] Activations(Random rng, int m, int k)
    {
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)) * (i % k % 97 == 0 ? 30 : 1);
        }
        return a;
    }

}
