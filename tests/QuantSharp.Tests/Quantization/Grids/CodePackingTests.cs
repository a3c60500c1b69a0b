// Bit packing of grid codes: round trips for 1–8 bits, known byte layouts, bad input.
using CsCheck;
using QuantSharp.Quantization.Grids;

namespace QuantSharp.Tests.Quantization.Grids;

public sealed class CodePackingTests
{
    [Fact]
    public void Round_trips_every_width()
    {
        Gen.Select(Gen.Int[1, 8], Gen.Int[0, 200], Gen.Int).Sample((bits, count, seed) =>
        {
            var rng = new Random(seed);
            var codes = new byte[count];
            for (int i = 0; i < count; i++) codes[i] = (byte)rng.Next(1 << bits);
            var packed = new byte[CodePacking.PackedLength(count, bits)];
            CodePacking.Pack(codes, bits, packed);
            var back = new byte[count];
            CodePacking.Unpack(packed, bits, back);
            Assert.Equal(codes, back);
            Assert.Equal((count * bits + 7) / 8, packed.Length);
        }, iter: 2000);
    }

    [Fact]
    public void Layout_is_LSB_first()
    {
        var packed = new byte[2];
        CodePacking.Pack(new byte[] { 0x1, 0x2, 0x3, 0x4 }, 4, packed);
        Assert.Equal(new byte[] { 0x21, 0x43 }, packed);
        // 3-bit codes 0..10 then 7: AutoGPTQ's first int32 word holds codes 0..9 at 3·i and the low
        // two bits of code 10 at bits 30–31; its second word starts with code 10's top bit.
        var codes = new byte[32];
        for (int i = 0; i < 32; i++) codes[i] = (byte)(i % 8);
        var p3 = new byte[12];
        CodePacking.Pack(codes, 3, p3);
        uint w0 = BitConverter.ToUInt32(p3, 0), w1 = BitConverter.ToUInt32(p3, 4);
        uint expected0 = 0;
        for (int i = 0; i < 10; i++) expected0 |= (uint)codes[i] << (3 * i);
        expected0 |= (uint)codes[10] << 30;
        Assert.Equal(expected0, w0);
        Assert.Equal((uint)(codes[10] >> 2) & 1, w1 & 1);
        Assert.Equal((uint)codes[11], (w1 >> 1) & 7);
    }

    [Fact]
    public void Rejects_bad_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CodePacking.PackedLength(4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => CodePacking.PackedLength(4, 9));
        Assert.Contains("code 1 is 16", Assert.Throws<ArgumentException>(() => CodePacking.Pack(new byte[] { 1, 16 }, 4, new byte[1])).Message);
        Assert.Throws<ArgumentException>(() => CodePacking.Pack(new byte[] { 1, 2, 3 }, 4, new byte[1]));
        Assert.Throws<ArgumentException>(() => CodePacking.Unpack(new byte[1], 4, new byte[3]));
    }
}
