// Dequantization of ggml's 32-weight block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Dequant;

/// <summary>
/// Scalar dequantizers for the 32-weight block formats. Each mirrors ggml's dequantize_row_*
/// operation for operation (int → float, then the same multiply/add order) so the floats match
/// ggml's bit for bit. Q4_0 and Q8_0 (and KQuantDequant's Q4_K) have AVX2 loops doing the same
/// operations eight weights at a time: they pack weight tiles for the GEMM path of prefill.
/// </summary>
internal static unsafe class LegacyDequant
{
    /// <summary>The IQ4_NL / IQ4_XS codebook (kvalues_iq4nl in ggml-common.h).</summary>
    internal static ReadOnlySpan<sbyte> Iq4NlValues => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>Exact fp16 → fp32 without the out-of-line (float)Half call (see IntDot.Half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Half(byte* p) => Quantized.IntDot.Half(p);

    // block_q4_0: fp16 d, 16 bytes of nibbles (low nibbles: weights 0..15, high: 16..31).
    public static void Q4_0(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 18, y += 32)
        {
            float d = Half(x);
            byte* qs = x + 2;
            if (Avx2.IsSupported)
            {
                // The same int → float → ×d per weight, eight at a time (the GEMM path's tile packing).
                var dv = Vector256.Create(d);
                var eight = Vector256.Create(8);
                for (int j = 0; j < 16; j += 8)
                {
                    var b = Avx2.ConvertToVector256Int32(qs + j);
                    Vector256.Store(Vector256.ConvertToSingle((b & Vector256.Create(0xF)) - eight) * dv, y + j);
                    Vector256.Store(Vector256.ConvertToSingle(Vector256.ShiftRightLogical(b, 4) - eight) * dv, y + j + 16);
                }
                continue;
            }
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((qs[j] & 0xF) - 8) * d;
                y[j + 16] = ((qs[j] >> 4) - 8) * d;
            }
        }
    }

    // block_q4_1: fp16 d, fp16 m, 16 bytes of nibbles; value = q·d + m.
    public static void Q4_1(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 20, y += 32)
        {
            float d = Half(x), m = Half(x + 2);
            byte* qs = x + 4;
            for (int j = 0; j < 16; j++)
            {
                y[j] = (qs[j] & 0xF) * d + m;
                y[j + 16] = (qs[j] >> 4) * d + m;
            }
        }
    }

    // block_q5_0: fp16 d, 32 high bits (uint32, bit j for weight j), 16 bytes of low nibbles.
    public static void Q5_0(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 22, y += 32)
        {
            float d = Half(x);
            uint qh = Unsafe.ReadUnaligned<uint>(x + 2);
            byte* qs = x + 6;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((qs[j] & 0xF) | h0) - 16) * d;
                y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
            }
        }
    }

    // block_q5_1: fp16 d, fp16 m, uint32 high bits, 16 bytes of low nibbles; value = q·d + m.
    public static void Q5_1(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 24, y += 32)
        {
            float d = Half(x), m = Half(x + 2);
            uint qh = Unsafe.ReadUnaligned<uint>(x + 4);
            byte* qs = x + 8;
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((qs[j] & 0xF) | h0) * d + m;
                y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
            }
        }
    }

    // block_q8_0: fp16 d, 32 int8.
    public static void Q8_0(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 34, y += 32)
        {
            float d = Half(x);
            sbyte* qs = (sbyte*)(x + 2);
            if (Avx2.IsSupported)
            {
                var dv = Vector256.Create(d);
                for (int j = 0; j < 32; j += 8)
                    Vector256.Store(Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(qs + j)) * dv, y + j);
                continue;
            }
            for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
        }
    }

    // block_iq4_nl: fp16 d, 16 bytes of 4-bit codebook indices (same nibble order as Q4_0).
    public static void IQ4_NL(byte* x, float* y, int nb)
    {
        var kv = Iq4NlValues;
        for (int i = 0; i < nb; i++, x += 18, y += 32)
        {
            float d = Half(x);
            byte* qs = x + 2;
            for (int j = 0; j < 16; j++)
            {
                y[j] = d * kv[qs[j] & 0xF];
                y[j + 16] = d * kv[qs[j] >> 4];
            }
        }
    }
}
