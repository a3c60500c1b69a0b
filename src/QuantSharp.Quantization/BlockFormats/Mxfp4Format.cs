// ggml MXFP4: 32 weights per block, an E8M0 power-of-two scale and 4-bit E2M1 codes (OCP microscaling FP4).
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// MXFP4 as ggml stores it (block_mxfp4: uint8 e, 16 bytes of nibbles, weight j low and j + 16 high),
/// quantized as ggml's quantize_row_mxfp4_ref does: e = floor(log2f(max|x|)) − 2 + 127 (the OCP
/// shared-exponent rule, computed through log2f, so a max|x| just below a power of two can round
/// up to it and get the next scale), then each weight takes the nearest of ggml's doubled E2M1
/// values kvalues_mxfp4 times 2^(e − 128), ties going to the earlier table entry (the smaller
/// magnitude; this is not the OCP round-to-nearest-even of <see cref="Grids.MxFp4Grid"/>).
/// ggml has no importance-weighted MXFP4 quantizer: an importance vector is validated and ignored,
/// as ggml_quantize_chunk ignores it.
/// Error bound per weight (X = 2^(e − 127), the E2M1 unit): |x − x̂| ≤ max(X/4, |x|/4).
/// </summary>
public sealed class Mxfp4Format : BlockFormatBase
{
    private const int Qk = 32;

    /// <summary>2 × the E2M1 value of each code: ggml's kvalues_mxfp4.</summary>
    private static ReadOnlySpan<sbyte> DoubledValues => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    /// <inheritdoc/>
    public override DType Type => DType.MXFP4;

    /// <summary>ggml's E8M0 exponent byte for a block whose largest magnitude is <paramref name="amax"/>.</summary>
    public static byte SharedExponent(float amax)
    {
        if (!(amax > 0)) return 0;
        // C converts the float to uint8_t; for in-range values that is truncation, and for the
        // out-of-range results of tiny (subnormal) maxima x86 keeps the low byte of the int32
        // conversion, which (byte)(int) reproduces.
        float e = MathF.Floor(MathF.Log2(amax)) - 2 + 127;
        return unchecked((byte)(int)e);
    }

    /// <summary>2^(e − 128): ggml's GGML_E8M0_TO_FP32_HALF, the scale of the doubled E2M1 values.</summary>
    public static float HalfScale(byte e) => BitConverter.UInt32BitsToSingle(e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23);

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        int blocks = row.Length / Qk;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 17, 17);
            float amax = 0;
            for (int j = 0; j < Qk; j++)
            {
                float a = MathF.Abs(x[j]);
                if (amax < a) amax = a;
            }
            byte e = SharedExponent(amax);
            float d = HalfScale(e);
            y[0] = e;
            for (int j = 0; j < 16; j++)
                y[1 + j] = (byte)(BestIndex(x[j], d) | (BestIndex(x[j + 16], d) << 4));
        }
    }

    /// <summary>ggml's best_index_mxfp4: linear scan, first strictly smaller |kv·d − x| wins.</summary>
    private static int BestIndex(float x, float d)
    {
        var kv = DoubledValues;
        int best = 0;
        float bestErr = MathF.Abs(kv[0] * d - x);
        for (int i = 1; i < 16; i++)
        {
            float err = MathF.Abs(kv[i] * d - x);
            if (err < bestErr) { best = i; bestErr = err; }
        }
        return best;
    }
}
