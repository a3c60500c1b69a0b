// The int32 packing of AutoAWQ's GEMM checkpoints (quant_method "awq", version "gemm"): qweight, qzeros, and their inverses.
namespace QuantSharp.Formats.Awq;

/// <summary>
/// Bit layout of AutoAWQ's WQLinear_GEMM (what transformers, vLLM and AutoAWQ read for version "gemm"), 4 bits only.
/// Unlike GPTQ, values are packed along the <b>output</b> dimension: eight consecutive output features o = 8j … 8j+7 of
/// one row of the [in, out] matrix share an int32, and nibble i (bits 4i…4i+3) holds output 8j + <see cref="Order"/>[i]
/// (AutoAWQ's AWQ_ORDER 0, 2, 4, 6, 1, 3, 5, 7 — the interleave its CUDA kernel dequantizes from; readers undo it with
/// AWQ_REVERSE_ORDER 0, 4, 1, 5, 2, 6, 3, 7).
/// <list type="bullet">
/// <item>qweight: int32 [in, out/8]: the grid values q[out, in] transposed and packed along out.</item>
/// <item>qzeros: int32 [groups, out/8]: the zero points, packed the same way and stored as they are (no GPTQ "−1").</item>
/// <item>scales: fp16 [groups, out]; groups are contiguous runs of group_size input columns (no g_idx).</item>
/// </list>
/// Dequantized weight [out o, in c] = scales[c / G, o] · (q − zero[c / G, o]).
/// </summary>
public static class AwqPacking
{
    /// <summary>Bits per value: AutoAWQ's GEMM layout is defined for 4 bits only.</summary>
    public const int Bits = 4;

    /// <summary>Values per int32.</summary>
    public const int PerWord = 32 / Bits;

    /// <summary>AWQ_ORDER: nibble i of a word holds output feature 8j + Order[i].</summary>
    public static ReadOnlySpan<int> Order => [0, 2, 4, 6, 1, 3, 5, 7];

    /// <summary>Packs <paramref name="values"/> [rows, width] (each 0…15) along the width into int32 [rows, width/8].</summary>
    private static int[] PackRows(ReadOnlySpan<int> values, int rows, int width, string what)
    {
        if (width % PerWord != 0) throw new ArgumentException($"{what}: AWQ packing needs out_features divisible by {PerWord}, got {width}");
        int words = width / PerWord;
        var packed = new int[(long)rows * words];
        var order = Order;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < words; j++)
            {
                uint w = 0;
                for (int i = 0; i < PerWord; i++)
                {
                    int v = values[r * width + j * PerWord + order[i]];
                    if ((uint)v > 15) throw new ArgumentOutOfRangeException(nameof(values), $"{what}: value {v} at [{r}, {j * PerWord + order[i]}] does not fit in 4 bits");
                    w |= (uint)v << (Bits * i);
                }
                packed[(long)r * words + j] = (int)w;
            }
        return packed;
    }

    /// <summary>The inverse of <see cref="PackRows"/>: int32 [rows, width/8] to values [rows, width].</summary>
    private static int[] UnpackRows(ReadOnlySpan<int> packed, int rows, int width)
    {
        int words = width / PerWord;
        var values = new int[(long)rows * width];
        var order = Order;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < words; j++)
            {
                uint w = (uint)packed[r * words + j];
                for (int i = 0; i < PerWord; i++) values[(long)r * width + j * PerWord + order[i]] = (int)((w >> (Bits * i)) & 0xF);
            }
        return values;
    }

    /// <summary>qweight [cols, rows/8] from grid values q [rows = out, cols = in] (row-major, as nn.Linear.weight).</summary>
    public static int[] PackWeight(ReadOnlySpan<int> q, int rows, int cols, string module)
    {
        if (q.Length != (long)rows * cols) throw new ArgumentException($"{module}: {q.Length} values for [{rows}, {cols}]");
        // Transposed to [in, out] first: AutoAWQ packs along the output features.
        var t = new int[(long)rows * cols];
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++) t[(long)c * rows + o] = q[o * cols + c];
        return PackRows(t, cols, rows, module);
    }

    /// <summary>Grid values q [rows, cols] from qweight [cols, rows/8].</summary>
    public static int[] UnpackWeight(ReadOnlySpan<int> qweight, int rows, int cols)
    {
        if (rows % PerWord != 0) throw new InvalidDataException($"AWQ packing needs out_features divisible by {PerWord}, got {rows}");
        if (qweight.Length != (long)cols * (rows / PerWord)) throw new InvalidDataException($"qweight has {qweight.Length} words, expected {cols}×{rows / PerWord}");
        var t = UnpackRows(qweight, cols, rows);
        var q = new int[(long)rows * cols];
        for (int c = 0; c < cols; c++)
            for (int o = 0; o < rows; o++) q[(long)o * cols + c] = t[(long)c * rows + o];
        return q;
    }

    /// <summary>qzeros [groups, rows/8] from zero points [groups, rows] (stored as they are).</summary>
    public static int[] PackZeros(ReadOnlySpan<int> zeros, int groups, int rows, string module)
    {
        if (zeros.Length != (long)groups * rows) throw new ArgumentException($"{module}: {zeros.Length} zero points for [{groups}, {rows}]");
        return PackRows(zeros, groups, rows, module);
    }

    /// <summary>Zero points [groups, rows] from qzeros [groups, rows/8].</summary>
    public static int[] UnpackZeros(ReadOnlySpan<int> qzeros, int groups, int rows)
    {
        if (rows % PerWord != 0) throw new InvalidDataException($"AWQ packing needs out_features divisible by {PerWord}, got {rows}");
        if (qzeros.Length != (long)groups * (rows / PerWord)) throw new InvalidDataException($"qzeros has {qzeros.Length} words, expected {groups}×{rows / PerWord}");
        return UnpackRows(qzeros, groups, rows);
    }
}
