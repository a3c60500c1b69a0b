// The vector Q8_0 block quantizer must write exactly the scalar (ggml reference) bytes.
using System.Runtime.Intrinsics;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// Compares <see cref="Q8_0Format.QuantizeBlockVector"/> with <see cref="Q8_0Format.QuantizeBlockScalar"/>
/// byte for byte, including exact halves (roundf rounds them away from zero), signed zeros, all-zero
/// blocks and tiny magnitudes.
/// </summary>
public sealed class Q8_0VectorTests
{
    [Fact]
    public void VectorBlocksMatchScalarBlocks()
    {
        if (!Vector256.IsHardwareAccelerated) return;
        var rng = new Random(8);
        var x = new float[32];
        var expected = new byte[34];
        var actual = new byte[34];
        for (int b = 0; b < 50000; b++)
        {
            int kind = b % 6;
            for (int j = 0; j < 32; j++)
            {
                x[j] = kind switch
                {
                    0 => 0f,
                    1 => rng.Next(-254, 255) * 0.5f,          // with 127 below: id = 1, so every odd value is a tie
                    2 => rng.Next(2) == 0 ? -0f : 1e-30f * (float)(rng.NextDouble() - 0.5),
                    _ => (float)(rng.NextDouble() - 0.5) * MathF.Pow(10, rng.Next(-6, 4)),
                };
            }
            if (kind == 1) x[rng.Next(32)] = rng.Next(2) == 0 ? 127f : -127f;
            Q8_0Format.QuantizeBlockScalar(x, expected);
            Q8_0Format.QuantizeBlockVector(x, actual);
            Assert.Equal(expected, actual);
        }
    }
}
