// .NET's float→Half conversion rounds exactly like ggml's GGML_FP32_TO_FP16, which every block scale goes through.
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

public sealed class Fp16RoundingTests
{
    /// <summary>
    /// ggml's portable fp32→fp16 (the bit-manipulation routine used when no F16C instruction is
    /// compiled in): scales the magnitude so the FPU's own round-to-nearest-even does the rounding,
    /// NaN becomes a quiet NaN keeping the sign. Written here from its description as the reference.
    /// </summary>
    private static ushort GgmlFp32ToFp16(float f)
    {
        float scaleToInf = BitConverter.Int32BitsToSingle(0x77800000);
        float scaleToZero = BitConverter.Int32BitsToSingle(0x08800000);
        float b = MathF.Abs(f) * scaleToInf * scaleToZero;
        uint w = BitConverter.SingleToUInt32Bits(f);
        uint shl1W = w + w;
        uint sign = w & 0x80000000u;
        uint bias = shl1W & 0xFF000000u;
        if (bias < 0x71000000u) bias = 0x71000000u;
        b = BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + b;
        uint bits = BitConverter.SingleToUInt32Bits(b);
        uint expBits = (bits >> 13) & 0x00007C00u;
        uint mantissaBits = bits & 0x00000FFFu;
        uint nonsign = expBits + mantissaBits;
        return (ushort)((sign >> 16) | (shl1W > 0xFF000000u ? 0x7E00u : nonsign));
    }

    [Fact]
    public void Half_cast_equals_ggml_conversion_on_random_and_boundary_values()
    {
        var rng = new Random(7);
        int checkedCount = 0;
        void Check(float f)
        {
            Assert.True(GgmlFp32ToFp16(f) == GgmlScalar.ToFp16Bits(f), $"{f:R} (0x{BitConverter.SingleToUInt32Bits(f):X8}): ggml 0x{GgmlFp32ToFp16(f):X4}, .NET 0x{GgmlScalar.ToFp16Bits(f):X4}");
            checkedCount++;
        }
        // Random bit patterns (every exponent, NaNs and infinities included).
        for (int i = 0; i < 2_000_000; i++) Check(BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31)));
        // Every fp16 value, and the midpoints and their neighbours, where ties-to-even matters.
        for (int h = 0; h < 0x7C00; h++)
        {
            float v = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float next = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float mid = (v + next) / 2; // exact in fp32
            foreach (float x in new[] { v, mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                Check(x);
                Check(-x);
            }
        }
        Assert.True(checkedCount > 2_000_000);
    }
}
