// MXFP4 (GGML_TYPE_MXFP4) against ggml b8390 on its edge cases: scale boundaries, ties, tiny and huge blocks.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.LlamaCpp;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Tests.LlamaCpp;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// The random/real comparison lives in <see cref="BlockFormatOracleTests"/>; these blocks aim at the
/// places where a port of quantize_row_mxfp4_ref could differ: log2f just below powers of two,
/// values exactly between two E2M1 levels, signed zeros, subnormal and near-fp32-max blocks, and
/// every E8M0 byte through dequantize_row_mxfp4.
/// </summary>
[Trait("Category", "Oracle")]
public sealed class Mxfp4OracleTests
{
    private static readonly IBlockFormat Format = BlockFormatRegistry.Get(DType.MXFP4);

    [OracleFact]
    public void Edge_case_blocks_are_byte_identical_to_ggml()
    {
        var blocks = new List<float[]>();
        var rng = new Random(39);
        // Block maxima at, just below and just above powers of two, over the whole fp32 range.
        for (int k = -149; k <= 127; k++)
        {
            float p = (float)Math.ScaleB(1.0, k);
            foreach (float amax in new[] { p, BitDecrement(p), BitIncrement(p), p * 1.5f, p * 1.75f })
            {
                if (!float.IsFinite(amax) || amax <= 0) continue;
                var b = new float[32];
                for (int j = 0; j < 32; j++) b[j] = (float)((rng.NextDouble() * 2 - 1) * amax);
                b[rng.Next(32)] = rng.Next(2) == 0 ? amax : -amax;
                blocks.Add(b);
            }
        }
        // Exact ties: every midpoint between neighbouring levels (and ± an ulp) at several scales.
        float[] levels = [0, 0.5f, 1, 1.5f, 2, 3, 4, 6];
        foreach (int k in new[] { -130, -20, 0, 3, 100 })
        {
            float unit = (float)Math.ScaleB(1.0, k);
            var b = new float[32];
            int n = 0;
            b[n++] = 6 * unit;
            for (int i = 0; i + 1 < levels.Length; i++)
            {
                float mid = (levels[i] + levels[i + 1]) / 2 * unit;
                foreach (float v in new[] { mid, -mid, BitIncrement(mid), BitDecrement(mid) })
                    if (n < 32) b[n++] = v;
            }
            blocks.Add(b);
        }
        // Signed zeros, all-zero, clipped values between 6X and 8X.
        blocks.Add(new float[32]);
        var negZeros = new float[32];
        Array.Fill(negZeros, -0f);
        negZeros[3] = 1e-3f;
        blocks.Add(negZeros);
        var clip = new float[32];
        for (int j = 0; j < 32; j++) clip[j] = 7.99f - j * 0.06f;
        blocks.Add(clip);

        var row = blocks.SelectMany(b => b).ToArray();
        var ours = new byte[row.Length / 32 * 17];
        // The port itself, byte for byte (near fp32's maximum ggml writes the NaN exponent 0xFF); the public
        // QuantizeRow refuses such blocks instead of writing them (BlockScaleCheck), checked below.
        ((BlockFormatBase)Format).QuantizeRowUnchecked(row, ours, default);
        Assert.Contains(ours.Where((_, i) => i % 17 == 0), e => e == 0xFF);
        Assert.Throws<InvalidDataException>(() => Format.QuantizeRow(row, new byte[ours.Length]));
        var theirs = GgmlQuantOracle.Quantize(GgmlTypes.Id(DType.MXFP4), row, row.Length / 32, 32);
        for (int b = 0; b < blocks.Count; b++)
        {
            var o = ours.AsSpan(b * 17, 17);
            var t = theirs.AsSpan(b * 17, 17);
            Assert.True(o.SequenceEqual(t), $"block {b} (max {blocks[b].Max(MathF.Abs):R}): ours {Convert.ToHexString(o)}, ggml {Convert.ToHexString(t)}");
        }
    }

    [OracleFact]
    public void Every_scale_byte_and_code_dequantizes_like_ggml()
    {
        var data = new byte[256 * 17];
        for (int e = 0; e < 256; e++)
        {
            data[e * 17] = (byte)e;
            for (int j = 0; j < 16; j++) data[e * 17 + 1 + j] = (byte)((j + e) & 0xF | ((15 - j) << 4));
        }
        var expected = GgmlQuantOracle.Dequantize("mxfp4", data, 256 * 32);
        var got = new float[256 * 32];
        BlockDequantizer.DequantizeRow(DType.MXFP4, data, got);
        for (int i = 0; i < got.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]), $"value {i}: ggml {expected[i]:R}, ours {got[i]:R}");
    }

    [OracleFact]
    public void Importance_is_ignored_as_ggml_ignores_it()
    {
        var rng = new Random(5);
        var row = new float[256];
        for (int i = 0; i < row.Length; i++) row[i] = (float)(rng.NextDouble() - 0.5);
        var imp = BlockTestData.ActivationImportance(256, 3);
        var with = new byte[8 * 17];
        var without = new byte[8 * 17];
        Format.QuantizeRow(row, with, imp);
        Format.QuantizeRow(row, without);
        Assert.Equal(without, with);
        Assert.Equal(GgmlQuantOracle.Quantize(GgmlTypes.Id(DType.MXFP4), row, 1, 256, imp), with);
    }

    private static float BitIncrement(float v) => MathF.BitIncrement(v);
    private static float BitDecrement(float v) => MathF.BitDecrement(v);
}
