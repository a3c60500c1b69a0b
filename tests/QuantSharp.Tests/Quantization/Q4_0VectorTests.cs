// The vector Q4_0 block quantizer must write exactly the scalar (ggml reference) bytes.
using System.Runtime.Intrinsics;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// Compares <see cref="Q4_0Format.QuantizeBlockVector"/> with <see cref="Q4_0Format.QuantizeBlockScalar"/>
/// byte for byte: ties for the largest magnitude (the first one sets the sign), exact x·id + 8.5 boundaries,
/// signed zeros, all-zero blocks and tiny magnitudes.
/// </summary>
public sealed class Q4_0VectorTests
{
    [Fact]
    public void VectorBlocksMatchScalarBlocks()
    {
        if (!Vector256.IsHardwareAccelerated) return;
        var rng = new Random(4);
        var x = new float[32];
        var expected = new byte[18];
        var actual = new byte[18];
        for (int b = 0; b < 50000; b++)
        {
            int kind = b % 6;
            for (int j = 0; j < 32; j++)
            {
                x[j] = kind switch
                {
                    0 => 0f,
                    1 => rng.Next(-16, 17) * 0.5f,          // many elements share the largest magnitude, both signs
                    2 => rng.Next(2) == 0 ? -0f : 1e-30f * (float)(rng.NextDouble() - 0.5),
                    _ => (float)(rng.NextDouble() - 0.5) * MathF.Pow(10, rng.Next(-6, 4)),
                };
            }
            Q4_0Format.QuantizeBlockScalar(x, expected);
            Q4_0Format.QuantizeBlockVector(x, actual);
            Assert.Equal(expected, actual);
        }
    }
}
