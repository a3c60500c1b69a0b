// The 12-byte packing of eight 6-bit scales and eight 6-bit mins shared by Q4_K and Q5_K.
namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// ggml's scale/min layout for Q4_K and Q5_K (get_scale_min_k4): sub-blocks 0–3 keep their 6 bits in
/// bytes 0–3 (scales) and 4–7 (mins); sub-blocks 4–7 keep their low 4 bits in bytes 8–11 and their
/// top 2 bits in the spare top bits of bytes 0–7.
/// </summary>
internal static class KQuantScaleMinPacking
{
    /// <summary>Writes sub-block <paramref name="j"/>'s scale and min; call for j = 0…7 in order (later ones OR into earlier bytes).</summary>
    public static void Pack(Span<byte> scales, int j, byte ls, byte lm)
    {
        if (j < 4)
        {
            scales[j] = ls;
            scales[j + 4] = lm;
        }
        else
        {
            scales[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (byte)((ls >> 4) << 6);
            scales[j] |= (byte)((lm >> 4) << 6);
        }
    }

    /// <summary>Reads sub-block <paramref name="j"/>'s 6-bit scale and min.</summary>
    public static void Unpack(ReadOnlySpan<byte> scales, int j, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(scales[j] & 63);
            min = (byte)(scales[j + 4] & 63);
        }
        else
        {
            scale = (byte)((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
            min = (byte)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
        }
    }
}
