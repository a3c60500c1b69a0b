// FP8 E4M3 / E5M2 and FP4 E2M1 codecs against the OCP definitions: every code, ties to even, saturation.
using CsCheck;
using QuantSharp.Quantization.Grids;

namespace QuantSharp.Tests.Quantization.Grids;

public sealed class MiniFloatTests
{
    public static TheoryData<string> Formats => new() { "e4m3", "e5m2", "e2m1" };

    private static MiniFloat Get(string name) => name switch
    {
        "e4m3" => MiniFloat.E4M3,
        "e5m2" => MiniFloat.E5M2,
        _ => MiniFloat.E2M1,
    };

    [Fact]
    public void Known_values_match_the_OCP_tables()
    {
        var e4 = MiniFloat.E4M3;
        Assert.Equal(448f, e4.Decode(0x7E));            // S.1111.110 max normal
        Assert.Equal(-448f, e4.Decode(0xFE));
        Assert.True(float.IsNaN(e4.Decode(0x7F)) && float.IsNaN(e4.Decode(0xFF)));
        Assert.Equal(MathF.Pow(2, -6), e4.Decode(0x08));  // min normal S.0001.000
        Assert.Equal(0.875f * MathF.Pow(2, -6), e4.Decode(0x07)); // max subnormal
        Assert.Equal(MathF.Pow(2, -9), e4.Decode(0x01));  // min subnormal
        Assert.Equal(240f, e4.Decode(0x77));              // S.1110.111: exponent 15 holds normals in "fn"
        Assert.Equal(256f, e4.Decode(0x78));
        Assert.Equal(448f, e4.MaxFinite);
        Assert.Equal(0x7E, e4.MaxCode);

        var e5 = MiniFloat.E5M2;
        Assert.Equal(57344f, e5.Decode(0x7B));           // S.11110.11
        Assert.Equal(float.PositiveInfinity, e5.Decode(0x7C));
        Assert.Equal(float.NegativeInfinity, e5.Decode(0xFC));
        foreach (byte c in new byte[] { 0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF }) Assert.True(float.IsNaN(e5.Decode(c)));
        Assert.Equal(MathF.Pow(2, -14), e5.Decode(0x04));
        Assert.Equal(0.75f * MathF.Pow(2, -14), e5.Decode(0x03));
        Assert.Equal(MathF.Pow(2, -16), e5.Decode(0x01));
        Assert.Equal(57344f, e5.MaxFinite);

        var e2 = MiniFloat.E2M1;
        Assert.Equal(new float[] { 0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0f, -0.5f, -1, -1.5f, -2, -3, -4, -6 },
            Enumerable.Range(0, 16).Select(c => e2.Decode((byte)c)).ToArray());
        Assert.Equal(6f, e2.MaxFinite);
        // Negative zero keeps its sign bit.
        Assert.Equal(0x80, e4.Encode(-0f));
        Assert.Equal(0x80, e5.Encode(-0f));
        Assert.Equal(0x8, e2.Encode(-0f));
    }

    [Theory, MemberData(nameof(Formats))]
    public void Every_code_decodes_and_reencodes_to_itself_except_NaN(string name)
    {
        var f = Get(name);
        int codes = 1 << f.Bits, nan = 0;
        for (int c = 0; c < codes; c++)
        {
            float v = f.Decode((byte)c);
            if (float.IsNaN(v))
            {
                nan++;
                byte back = f.Encode(v);
                Assert.True(float.IsNaN(f.Decode(back)), $"{f}: NaN code {c:X2} re-encodes to non-NaN {back:X2}");
                continue;
            }
            Assert.Equal(c, f.Encode(v));
            Assert.Equal(c, f.Encode(v, saturate: false));
        }
        Assert.Equal(name switch { "e4m3" => 2, "e5m2" => 6, _ => 0 }, nan);
    }

    [Theory, MemberData(nameof(Formats))]
    public void Midpoints_round_to_the_even_code_and_neighbours_to_the_nearer(string name)
    {
        var f = Get(name);
        var finite = FinitePositiveCodes(f);
        for (int i = 0; i + 1 < finite.Count; i++)
        {
            byte a = finite[i], b = finite[i + 1];
            float va = f.Decode(a), vb = f.Decode(b);
            float mid = (va + vb) / 2; // exact in fp32: both have few significant bits
            Assert.Equal((double)va + vb, 2.0 * mid);
            byte even = (a & 1) == 0 ? a : b;
            Assert.Equal(even, f.Encode(mid));
            Assert.Equal((byte)(even | 1 << (f.Bits - 1)), f.Encode(-mid));
            Assert.Equal(a, f.Encode(MathF.BitDecrement(mid)));
            Assert.Equal(b, f.Encode(MathF.BitIncrement(mid)));
        }
    }

    [Fact]
    public void Overflow_saturates_or_becomes_NaN_or_infinity()
    {
        var e4 = MiniFloat.E4M3;
        Assert.Equal(0x7E, e4.Encode(1e6f));
        Assert.Equal(0xFE, e4.Encode(-1e6f));
        Assert.Equal(0x7E, e4.Encode(float.PositiveInfinity));
        Assert.Equal(0x7E, e4.Encode(464f, saturate: false));           // tie with the missing 480 → even 448
        Assert.Equal(0x7F, e4.Encode(MathF.BitIncrement(464f), saturate: false));
        Assert.Equal(0x7F, e4.Encode(float.PositiveInfinity, saturate: false));
        Assert.Equal(0xFF, e4.Encode(float.NaN) | 0x80);

        var e5 = MiniFloat.E5M2;
        Assert.Equal(0x7B, e5.Encode(1e9f));
        Assert.Equal(0x7C, e5.Encode(61440f, saturate: false));         // tie → even → infinity, as IEEE
        Assert.Equal(0x7B, e5.Encode(MathF.BitDecrement(61440f), saturate: false));
        Assert.Equal(0xFC, e5.Encode(float.NegativeInfinity));
        Assert.Equal(0x7, MiniFloat.E2M1.Encode(100f, saturate: false));
        Assert.Throws<ArgumentException>(() => MiniFloat.E2M1.Encode(float.NaN));
    }

    [Theory, MemberData(nameof(Formats))]
    public void Encoding_equals_an_exhaustive_nearest_search(string name)
    {
        var f = Get(name);
        var finite = Enumerable.Range(0, 1 << f.Bits).Select(c => (byte)c).Where(c => float.IsFinite(f.Decode(c))).ToArray();
        // Any fp32 bit pattern whose magnitude is within the format's range (plus a margin that saturates).
        Gen.UInt.Sample(bits =>
        {
            float x = BitConverter.UInt32BitsToSingle(bits);
            if (!float.IsFinite(x)) return;
            x = (float)Math.ScaleB(x, -Math.ILogB((double)Math.Abs(x) + 1e-300) + new Random((int)bits).Next(-20, 18));
            if (!float.IsFinite(x)) return;
            byte got = f.Encode(x);
            byte expected = Nearest(f, finite, x);
            Assert.True(got == expected, $"{f}: {x:R} encodes to {got:X2} ({f.Decode(got)}), nearest-even is {expected:X2} ({f.Decode(expected)})");
            if (Math.Abs(x) <= f.MaxFinite)
                Assert.True(Math.Abs(x - f.Decode(got)) <= f.RoundingBound(x), $"{f}: {x:R} error beyond half an ulp");
        }, iter: 20_000);
    }

    private static byte Nearest(MiniFloat f, byte[] finite, float x)
    {
        if (Math.Abs(x) >= f.MaxFinite) return (byte)((x < 0 ? 1 << (f.Bits - 1) : 0) | f.MaxCode);
        byte best = 0;
        double bestErr = double.PositiveInfinity;
        foreach (byte c in finite)
        {
            double v = f.Decode(c);
            if (v == 0 && (BitConverter.SingleToInt32Bits(x) < 0) != (c >> (f.Bits - 1) == 1)) continue; // zero keeps x's sign
            double err = Math.Abs(v - x);
            bool sameSign = v == 0 || Math.Sign(v) == Math.Sign(x);
            if (!sameSign) continue;
            if (err < bestErr || (err == bestErr && (c & 1) == 0)) { best = c; bestErr = err; }
        }
        return best;
    }

    private static List<byte> FinitePositiveCodes(MiniFloat f)
    {
        var list = new List<byte>();
        for (int c = 0; c < 1 << (f.Bits - 1); c++)
            if (float.IsFinite(f.Decode((byte)c))) list.Add((byte)c);
        list.Sort((a, b) => f.Decode(a).CompareTo(f.Decode(b)));
        return list;
    }
}
