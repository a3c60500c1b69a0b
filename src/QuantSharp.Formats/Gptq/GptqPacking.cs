// The int32 packing of Hugging Face GPTQ checkpoints (AutoGPTQ / GPTQModel): qweight, qzeros, and their inverses.
namespace QuantSharp.Formats.Gptq;

/// <summary>
/// Bit layout of GPTQ checkpoints as AutoGPTQ's QuantLinear.pack writes them (and transformers,
/// vLLM, exllama read them). Every 32 consecutive values along the packed dimension become
/// <c>bits</c> int32 words holding one little-endian bit stream: value j occupies stream bits
/// [j·bits, (j+1)·bits), word w holds stream bits [32w, 32w+32). For 2, 4 and 8 bits no value
/// straddles words; for 3 bits values 10 and 21 do — exactly AutoGPTQ's 3-bit scheme (value 10:
/// bits 30–31 of word 0 and bit 0 of word 1; value 21: bit 31 of word 1 and bits 0–1 of word 2).
/// <list type="bullet">
/// <item>qweight: int32 [in/32·bits, out]; packs the grid values q[out, in] along in.</item>
/// <item>qzeros: int32 [groups, out/32·bits]; packs the zero points along out. Checkpoint format
/// "gptq" (v1) stores zero − 1 (readers add 1 back), so a zero point of 0 cannot be stored;
/// "gptq_v2" stores the zero itself.</item>
/// <item>scales: fp16 [groups, out]; g_idx: int32 [in], the group of each input column.</item>
/// </list>
/// Dequantized weight [out o, in c] = scales[g_idx[c], o] · (q − zero[g_idx[c], o]).
/// </summary>
public static class GptqPacking
{
    /// <summary>Bit widths the format supports.</summary>
    public static bool SupportedBits(int bits) => bits is 2 or 3 or 4 or 8;

    private static void CheckBits(int bits)
    {
        if (!SupportedBits(bits)) throw new NotSupportedException($"GPTQ checkpoints pack 2, 3, 4 or 8 bits, not {bits}");
    }

    /// <summary>Packs 32 values (each &lt; 2^bits) into <paramref name="bits"/> words.</summary>
    public static void Pack32(ReadOnlySpan<uint> values, int bits, Span<uint> words)
    {
        words[..bits].Clear();
        uint mask = (1u << bits) - 1;
        for (int j = 0; j < 32; j++)
        {
            uint v = values[j];
            if (v > mask) throw new ArgumentOutOfRangeException(nameof(values), $"value {v} does not fit in {bits} bits");
            int bit = j * bits, w = bit >> 5, sh = bit & 31;
            words[w] |= v << sh;
            if (sh + bits > 32) words[w + 1] |= v >> (32 - sh);
        }
    }

    /// <summary>Unpacks 32 values from <paramref name="bits"/> words.</summary>
    public static void Unpack32(ReadOnlySpan<uint> words, int bits, Span<uint> values)
    {
        uint mask = (1u << bits) - 1;
        for (int j = 0; j < 32; j++)
        {
            int bit = j * bits, w = bit >> 5, sh = bit & 31;
            uint v = words[w] >> sh;
            if (sh + bits > 32) v |= words[w + 1] << (32 - sh);
            values[j] = v & mask;
        }
    }

    /// <summary>qweight [in/32·bits, out] from grid values q [out, in] (row-major, original column order).</summary>
    public static int[] PackWeight(ReadOnlySpan<int> q, int rows, int cols, int bits)
    {
        CheckBits(bits);
        if (cols % 32 != 0) throw new ArgumentException($"GPTQ packing needs in_features divisible by 32, got {cols}");
        int packedRows = cols / 32 * bits;
        var packed = new int[(long)packedRows * rows];
        Span<uint> vals = stackalloc uint[32];
        Span<uint> words = stackalloc uint[8];
        for (int o = 0; o < rows; o++)
            for (int blk = 0; blk < cols / 32; blk++)
            {
                for (int j = 0; j < 32; j++) vals[j] = (uint)q[o * cols + blk * 32 + j];
                Pack32(vals, bits, words);
                for (int w = 0; w < bits; w++) packed[(long)(blk * bits + w) * rows + o] = (int)words[w];
            }
        return packed;
    }

    /// <summary>Grid values q [out, in] from qweight [in/32·bits, out].</summary>
    public static int[] UnpackWeight(ReadOnlySpan<int> qweight, int rows, int cols, int bits)
    {
        CheckBits(bits);
        if (cols % 32 != 0) throw new ArgumentException($"GPTQ packing needs in_features divisible by 32, got {cols}");
        if (qweight.Length != (long)cols / 32 * bits * rows) throw new InvalidDataException($"qweight has {qweight.Length} words, expected {cols / 32 * bits}×{rows}");
        var q = new int[(long)rows * cols];
        Span<uint> vals = stackalloc uint[32];
        Span<uint> words = stackalloc uint[8];
        for (int o = 0; o < rows; o++)
            for (int blk = 0; blk < cols / 32; blk++)
            {
                for (int w = 0; w < bits; w++) words[w] = (uint)qweight[(blk * bits + w) * rows + o];
                Unpack32(words, bits, vals);
                for (int j = 0; j < 32; j++) q[o * cols + blk * 32 + j] = (int)vals[j];
            }
        return q;
    }

    /// <summary>qzeros [groups, out/32·bits] from zero points [groups, out]; v1 stores zero − 1.</summary>
    public static int[] PackZeros(ReadOnlySpan<int> zeros, int groups, int rows, int bits, bool v1Offset, string tensorName)
    {
        CheckBits(bits);
        if (rows % 32 != 0) throw new ArgumentException($"{tensorName}: GPTQ packing needs out_features divisible by 32, got {rows}");
        int width = rows / 32 * bits;
        var packed = new int[(long)groups * width];
        Span<uint> vals = stackalloc uint[32];
        Span<uint> words = stackalloc uint[8];
        for (int g = 0; g < groups; g++)
            for (int blk = 0; blk < rows / 32; blk++)
            {
                for (int j = 0; j < 32; j++)
                {
                    int z = zeros[g * rows + blk * 32 + j];
                    if (v1Offset && z == 0)
                        throw new InvalidDataException($"{tensorName}: zero point 0 (group {g}, row {blk * 32 + j}) cannot be stored in checkpoint format 'gptq' (v1 stores zero − 1); use 'gptq_v2' or a symmetric grid");
                    vals[j] = (uint)(v1Offset ? z - 1 : z);
                }
                Pack32(vals, bits, words);
                for (int w = 0; w < bits; w++) packed[(long)g * width + blk * bits + w] = (int)words[w];
            }
        return packed;
    }

    /// <summary>Zero points [groups, out] from qzeros (adding back the 1 of the v1 format when <paramref name="v1Offset"/>).</summary>
    public static int[] UnpackZeros(ReadOnlySpan<int> qzeros, int groups, int rows, int bits, bool v1Offset)
    {
        CheckBits(bits);
        if (rows % 32 != 0) throw new ArgumentException($"GPTQ packing needs out_features divisible by 32, got {rows}");
        int width = rows / 32 * bits;
        if (qzeros.Length != (long)groups * width) throw new InvalidDataException($"qzeros has {qzeros.Length} words, expected {groups}×{width}");
        var zeros = new int[(long)groups * rows];
        Span<uint> vals = stackalloc uint[32];
        Span<uint> words = stackalloc uint[8];
        for (int g = 0; g < groups; g++)
            for (int blk = 0; blk < rows / 32; blk++)
            {
                for (int w = 0; w < bits; w++) words[w] = (uint)qzeros[g * width + blk * bits + w];
                Unpack32(words, bits, vals);
                for (int j = 0; j < 32; j++) zeros[g * rows + blk * 32 + j] = (int)vals[j] + (v1Offset ? 1 : 0);
            }
        return zeros;
    }
}
