// Dequantization of ggml's 256-weight super-block types (Q2_K … Q8_K, IQ4_XS).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Dequant;

/// <summary>
/// Scalar dequantizers for the k-quant super-blocks, mirroring ggml's dequantize_row_* float
/// operations and their order exactly so the results are bit-identical.
/// </summary>
internal static unsafe class KQuantDequant
{
    /// <summary>
    /// The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) from Q4_K/Q5_K's 12 packed
    /// bytes: sub-blocks 0..3 keep theirs in the low 6 bits of bytes 0..7, 4..7 split theirs into
    /// a nibble of bytes 8..11 and the top two bits of bytes 0..7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleMinK4(int j, byte* q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Q3_K's sixteen 6-bit scales (still biased by 32) unpacked from 12 bytes into <paramref name="scales"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Q3KScales(byte* packed, sbyte* scales)
    {
        const uint kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        uint a0 = Unsafe.ReadUnaligned<uint>(packed), a1 = Unsafe.ReadUnaligned<uint>(packed + 4), tmp = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint* aux = (uint*)scales;
        aux[0] = (a0 & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4);
        aux[2] = ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    }

    // block_q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), fp16 d, fp16 dmin.
    public static void Q2_K(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 84)
        {
            byte* sc = x, q = x + 16;
            float d = LegacyDequant.Half(x + 80), min = LegacyDequant.Half(x + 82);
            int s = 0;
            for (int n = 0; n < 256; n += 128, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2)
                {
                    float dl = d * (sc[s] & 0xF), ml = min * (sc[s] >> 4); s++;
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[l] >> shift) & 3) - ml;
                    dl = d * (sc[s] & 0xF); ml = min * (sc[s] >> 4); s++;
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[l + 16] >> shift) & 3) - ml;
                }
            }
        }
    }

    // block_q3_K: hmask[32] (high bit, one bit plane per 32 weights), qs[64] (low 2 bits), scales[12], fp16 d.
    public static void Q3_K(byte* x, float* y, int nb)
    {
        sbyte* scales = stackalloc sbyte[16];
        for (int i = 0; i < nb; i++, x += 110)
        {
            byte* hm = x, q = x + 32;
            float dAll = LegacyDequant.Half(x + 108);
            Q3KScales(x + 96, scales);
            int s = 0, m = 1;
            for (int n = 0; n < 256; n += 128, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                {
                    float dl = dAll * (scales[s++] - 32);
                    for (int l = 0; l < 16; l++) *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
                    dl = dAll * (scales[s++] - 32);
                    for (int l = 0; l < 16; l++) *y++ = dl * (((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) != 0 ? 0 : 4));
                }
            }
        }
    }

    // block_q4_K: fp16 d, fp16 dmin, scales[12] (6-bit scale/min pairs), qs[128]; 64 weights per 32 bytes.
    public static void Q4_K(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 144)
        {
            float d = LegacyDequant.Half(x), min = LegacyDequant.Half(x + 2);
            byte* sc = x + 4, q = x + 16;
            for (int j = 0; j < 8; j += 2, q += 32)
            {
                ScaleMinK4(j, sc, out int s1, out int m1i);
                ScaleMinK4(j + 1, sc, out int s2, out int m2i);
                float d1 = d * s1, m1 = min * m1i, d2 = d * s2, m2 = min * m2i;
                if (Avx2.IsSupported)
                {
                    // Same multiply-then-subtract per weight (no FMA contraction), eight at a time.
                    Vector256<float> d1v = Vector256.Create(d1), m1v = Vector256.Create(m1), d2v = Vector256.Create(d2), m2v = Vector256.Create(m2);
                    for (int l = 0; l < 32; l += 8)
                    {
                        var b = Avx2.ConvertToVector256Int32(q + l);
                        Vector256.Store(d1v * Vector256.ConvertToSingle(b & Vector256.Create(0xF)) - m1v, y + l);
                        Vector256.Store(d2v * Vector256.ConvertToSingle(Vector256.ShiftRightLogical(b, 4)) - m2v, y + 32 + l);
                    }
                    y += 64;
                    continue;
                }
                for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            }
        }
    }

    // block_q5_K: fp16 d, fp16 dmin, scales[12], qh[32] (fifth bits), qs[128].
    public static void Q5_K(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 176)
        {
            float d = LegacyDequant.Half(x), min = LegacyDequant.Half(x + 2);
            byte* sc = x + 4, qh = x + 16, ql = x + 48;
            for (int j = 0; j < 8; j += 2, ql += 32)
            {
                ScaleMinK4(j, sc, out int s1, out int m1i);
                ScaleMinK4(j + 1, sc, out int s2, out int m2i);
                float d1 = d * s1, m1 = min * m1i, d2 = d * s2, m2 = min * m2i;
                // The fifth bit by shift and mask, not a branch: on real weights the bits are random and a
                // branch per weight mispredicted half the time (this loop ran ~30x slower than Q4_K's).
                for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) | (((qh[l] >> j) & 1) << 4)) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) - m2;
            }
        }
    }

    // block_q6_K: ql[128] (low nibbles), qh[64] (2 high bits), int8 scales[16], fp16 d.
    public static void Q6_K(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 210)
        {
            float d = LegacyDequant.Half(x + 208);
            byte* ql = x, qh = x + 128;
            sbyte* sc = (sbyte*)(x + 192);
            for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
            {
                if (Avx2.IsSupported)
                {
                    // Same (d·sc)·q per weight, eight at a time; sc is constant over each 8 lanes.
                    var m4 = Vector256.Create(0xF);
                    var m2 = Vector256.Create(3);
                    var off = Vector256.Create(32);
                    for (int l = 0; l < 32; l += 8)
                    {
                        int s = l / 16;
                        var lq = Avx2.ConvertToVector256Int32(ql + l);
                        var hq = Avx2.ConvertToVector256Int32(ql + l + 32);
                        var h = Avx2.ConvertToVector256Int32(qh + l);
                        var q1 = ((lq & m4) | Vector256.ShiftLeft(h & m2, 4)) - off;
                        var q2 = ((hq & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 2) & m2, 4)) - off;
                        var q3 = (Vector256.ShiftRightLogical(lq, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 4) & m2, 4)) - off;
                        var q4 = (Vector256.ShiftRightLogical(hq, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 6) & m2, 4)) - off;
                        Vector256.Store(Vector256.Create(d * sc[s]) * Vector256.ConvertToSingle(q1), y + l);
                        Vector256.Store(Vector256.Create(d * sc[s + 2]) * Vector256.ConvertToSingle(q2), y + l + 32);
                        Vector256.Store(Vector256.Create(d * sc[s + 4]) * Vector256.ConvertToSingle(q3), y + l + 64);
                        Vector256.Store(Vector256.Create(d * sc[s + 6]) * Vector256.ConvertToSingle(q4), y + l + 96);
                    }
                    continue;
                }
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    // block_q8_K: fp32 d, int8 qs[256], int16 bsums[16].
    public static void Q8_K(byte* x, float* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 292, y += 256)
        {
            float d = Unsafe.ReadUnaligned<float>(x);
            sbyte* qs = (sbyte*)(x + 4);
            for (int j = 0; j < 256; j++) y[j] = d * qs[j];
        }
    }

    // block_iq4_xs: fp16 d, uint16 scales_h, scales_l[4], qs[128]; eight 32-weight IQ4_NL-style sub-blocks.
    public static void IQ4_XS(byte* x, float* y, int nb)
    {
        var kv = LegacyDequant.Iq4NlValues;
        for (int i = 0; i < nb; i++, x += 136)
        {
            float d = LegacyDequant.Half(x);
            int scalesH = Unsafe.ReadUnaligned<ushort>(x + 2);
            byte* scalesL = x + 4, qs = x + 8;
            for (int ib = 0; ib < 8; ib++, qs += 16, y += 32)
            {
                int ls = ((scalesL[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4);
                float dl = d * (ls - 32);
                for (int j = 0; j < 16; j++)
                {
                    y[j] = dl * kv[qs[j] & 0xF];
                    y[j + 16] = dl * kv[qs[j] >> 4];
                }
            }
        }
    }
}
