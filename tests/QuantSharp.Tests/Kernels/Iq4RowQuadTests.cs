// The IQ4_NL and IQ4_XS AVX-512 row-quad kernels: vector scale extraction and operands at the int16 limit.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// What the general kernel tests (QuantizedDotKernelTests, QuantizedMatMulTests, InterleavedWeightsTests, all
/// types) are unlikely to hit with quantized random or real weights: every bit pattern of IQ4_XS's packed
/// sub-block scales through the quad kernel's vector extraction, and blocks whose vpmaddubsw pair sums sit at
/// the largest possible magnitude (|value| = 127 against |a| = 127, scales −32 and 31), where a kernel that let
/// two pair sums meet in int16, or that moved the sign wrongly, would saturate or flip.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class Iq4RowQuadTests
{
    [Fact]
    public void Iq4TypesHaveRowQuadAndInterleavedKernelsAndXsHasTiles()
    {
        foreach (var t in new[] { DType.IQ4_NL, DType.IQ4_XS })
        {
            Assert.True(QuantizedMatMul.HasRowQuadKernel(t), $"{t} row quads");
            Assert.True(QuantizedMatMul.HasInterleavedKernel(t), $"{t} interleaved");
        }
        Assert.True(QuantizedMatMul.HasQuadTiles(DType.IQ4_XS));
    }

    /// <summary>
    /// The quad kernel's SubScales (word permutes and variable shifts over four rows' block heads) equals the
    /// scalar kernel's SubScale for every row and sub-block: all 65,536 scales_h words, each with varied
    /// scales_l words and d, the four rows different.
    /// </summary>
    [Fact]
    public void VectorSubScalesMatchScalarExtraction()
    {
        if (!Avx512BW.IsSupported) return; // the quad kernels are AVX-512 only
        var rng = new Random(14);
        ulong* heads = stackalloc ulong[4];
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            for (int i = 0; i < 4; i++)
            {
                // Row i: scales_h = h rotated by i, scales_l random (all-ones and all-zeros included), d random.
                uint low = h % 97 == 0 ? uint.MaxValue : h % 89 == 0 ? 0 : (uint)rng.NextInt64();
                ushort high = (ushort)((h << (4 * i)) | (h >> (16 - 4 * i)));
                heads[i] = (ulong)(ushort)rng.Next() | (ulong)high << 16 | (ulong)low << 32;
            }
            var sc = DotIQ4_XS.SubScales(Vector256.Load(heads));
            for (int i = 0; i < 4; i++)
                for (int s = 0; s < 8; s++)
                {
                    int want = DotIQ4_XS.SubScale((byte*)(heads + i), s);
                    Assert.True(want == sc.GetElement(8 * i + s), $"scales_h 0x{h:X4} row {i} sub-block {s}: {sc.GetElement(8 * i + s)} vs {want}");
                }
        }
    }

    public static TheoryData<DType> Types() => new() { DType.IQ4_NL, DType.IQ4_XS };

    /// <summary>
    /// Weight rows built byte by byte at the extremes (every index 0 = −127, every index 15 = 113, pairs of
    /// opposite sign, the smallest and largest IQ4_XS scales, one random row) against activations that
    /// quantize to ±127 throughout or alternate in sign: every ISA's result equals the exact dot of the
    /// dequantized operands within the kernels' documented 2e-6·Σ|w·a|, for M = 1 and M = 3 (IQ4_XS's tiles),
    /// with 5 rows so the last quad is ragged.
    /// </summary>
    [Theory]
    [MemberData(nameof(Types))]
    public void ExtremeOperandsGiveTheExactDot(DType type)
    {
        const int k = 512, n = 5;
        int blockBytes = type == DType.IQ4_XS ? 136 : 18, blockValues = type == DType.IQ4_XS ? 256 : 32, nb = k / blockValues;
        var packed = new byte[n * nb * blockBytes];
        var rng = new Random(3);
        for (int r = 0; r < n; r++)
            for (int b = 0; b < nb; b++)
            {
                var block = packed.AsSpan((r * nb + b) * blockBytes, blockBytes);
                BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)(r == 4 ? 0.01 : 1.0)));
                int head = 2;
                if (type == DType.IQ4_XS)
                {
                    // Rows 0, 2, 3: every ls 0 (scale −32); row 1: every ls 63 (scale 31); row 4 random.
                    byte fill = r == 1 ? (byte)0xFF : (byte)0;
                    block.Slice(2, 6).Fill(fill);
                    if (r == 4) rng.NextBytes(block.Slice(2, 6));
                    head = 8;
                }
                var qs = block[head..];
                switch (r)
                {
                    case 0 or 1: qs.Fill(0x00); break;               // −127 everywhere
                    case 2: qs.Fill(0xFF); break;                    // 113 everywhere
                    case 3: for (int i = 0; i < qs.Length; i++) qs[i] = (byte)(i % 2 == 0 ? 0xF0 : 0x0F); break; // −127 next to 113
                    default: rng.NextBytes(qs); break;
                }
            }
        var wq = new float[n * k];
        BlockDequantizer.DequantizeRow(type, packed, wq);
        foreach (int m in new[] { 1, 3 })
        {
            var a = new float[m * k];
            for (int i = 0; i < m; i++)
                for (int x = 0; x < k; x++)
                    a[i * k + x] = i switch { 0 => -1f, 1 => 1f, _ => x % 4 < 2 ? 1f : -1f };
            float[] aq = QuantizedOperands.Activations(type, a, m, k);
            fixed (byte* pw = packed)
            {
                var view = new TensorView("w", type, [n, k], pw, packed.Length);
                foreach (var source in new[] { view, view.WithInterleavedCopy() })
                    foreach (var isa in new[] { KernelIsa.Scalar, KernelIsa.Vector128, KernelIsa.Avx2, KernelIsa.Avx512 })
                    {
                        if (!KernelOptions.IsSupported(isa)) continue;
                        var c = new float[m * n];
                        using (new KernelScope(isa, 1)) MatMul.Multiply(a, m, source, c);
                        for (int i = 0; i < m; i++)
                            for (int r = 0; r < n; r++)
                            {
                                var (exact, mag) = QuantizedOperands.ExactDot(wq, aq, r, i, k);
                                Assert.True(mag > 0);
                                Assert.True(Math.Abs(c[i * n + r] - exact) <= 2e-6 * mag,
                                    $"{type} {isa} interleaved={source.Interleaved != null} M={m} [{i},{r}]: {c[i * n + r]:R} vs exact {exact:R} (Σ|w·a| {mag})");
                            }
                    }
            }
        }
    }
}
