// The kernels' inline fp16 → fp32 conversion against .NET's Half for every bit pattern.
using QuantSharp.Core.Kernels.Quantized;

namespace QuantSharp.Tests.Kernels;

public sealed unsafe class HalfConversionTests
{
    [Fact]
    public void MatchesSystemHalfForAllBitPatterns()
    {
        for (int h = 0; h < 65536; h++)
        {
            ushort bits = (ushort)h;
            float expected = (float)BitConverter.UInt16BitsToHalf(bits);
            float got = IntDot.Half((byte*)&bits);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(got),
                $"0x{h:X4}: {got} vs {expected}");
        }
    }
}
