// The in-register F16/BF16 widenings against the scalar conversions, over every 16-bit pattern.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels;

namespace QuantSharp.Tests.Kernels;

public sealed unsafe class WeightLoadTests
{
    [Fact]
    public void F16LoadsAreExactForEveryBitPattern()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        fixed (ushort* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                for (int l = 0; l < 16; l++)
                {
                    float expected = (float)BitConverter.UInt16BitsToHalf(bits[i + l]);
                    Same(expected, F16Load.Load1((byte*)p, i + l));
                    if (Vector128.IsHardwareAccelerated) Same(expected, F16Load.Load128((byte*)p, i + (l & ~3))[l & 3]);
                    if (Avx2.IsSupported) Same(expected, F16Load.Load256((byte*)p, i + (l & ~7))[l & 7]);
                    if (Avx512F.IsSupported) Same(expected, F16Load.Load512((byte*)p, i)[l]);
                }
            }
        }
    }

    /// <summary>Bit-exact, except that any NaN matches any NaN (the signalling/quiet bit is not preserved).</summary>
    private static void Same(float expected, float actual)
    {
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual));
        else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
    }

    [Fact]
    public void BF16LoadsShiftIntoTheHighHalf()
    {
        var bits = new ushort[16];
        for (int i = 0; i < 16; i++) bits[i] = (ushort)(0x3f80 + i * 0x1111);
        fixed (ushort* p = bits)
        {
            for (int l = 0; l < 16; l++)
            {
                uint expected = (uint)bits[l] << 16;
                Assert.Equal(expected, BitConverter.SingleToUInt32Bits(BF16Load.Load1((byte*)p, l)));
                if (Vector128.IsHardwareAccelerated) Assert.Equal(expected, BF16Load.Load128((byte*)p, l & ~3).AsUInt32()[l & 3]);
                if (Avx2.IsSupported) Assert.Equal(expected, BF16Load.Load256((byte*)p, l & ~7).AsUInt32()[l & 7]);
                if (Avx512F.IsSupported) Assert.Equal(expected, BF16Load.Load512((byte*)p, 0).AsUInt32()[l]);
            }
        }
    }
}
