// Dequantization of ggml's MXFP4 blocks (OCP microscaling FP4: E8M0 block scale, E2M1 elements).
namespace QuantSharp.Core.Kernels.Dequant;

/// <summary>
/// block_mxfp4 (ggml-common.h): one E8M0 byte e, then 16 bytes of 4-bit E2M1 codes (weight j in the
/// low nibble of byte j, weight j + 16 in the high nibble, as Q4_0). ggml stores the E2M1 values
/// doubled as integers (kvalues_mxfp4) and halves the scale instead, so a value is
/// kvalues[code] · 2^(e − 128), computed as int8 × float exactly as dequantize_row_mxfp4 does.
/// </summary>
internal static unsafe class Mxfp4Dequant
{
    /// <summary>2 × the E2M1 value of each code (sign bit 3): ggml's kvalues_mxfp4.</summary>
    internal static ReadOnlySpan<sbyte> DoubledValues => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    /// <summary>
    /// 2^(e − 128) as ggml's GGML_E8M0_TO_FP32_HALF builds it: the fp32 bit pattern directly, with
    /// the two subnormal results for e = 0 and 1. e = 255 (NaN in the OCP standard) decodes to 2^127,
    /// as in ggml.
    /// </summary>
    internal static float E8M0Half(byte e)
    {
        uint bits = e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    public static void Dequantize(byte* x, float* y, int nb)
    {
        var kv = DoubledValues;
        for (int i = 0; i < nb; i++, x += 17, y += 32)
        {
            float d = E8M0Half(x[0]);
            byte* qs = x + 1;
            for (int j = 0; j < 16; j++)
            {
                y[j] = kv[qs[j] & 0xF] * d;
                y[j + 16] = kv[qs[j] >> 4] * d;
            }
        }
    }
}
