// Test helper: the block-quantized types with their ggml ids and names, and ggml-made sample data.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.Kernels;

/// <summary>Maps our block <see cref="DType"/>s to ggml and produces rows quantized by ggml itself.</summary>
internal static unsafe class BlockTypes
{
    /// <summary>Every block type the kernels support.</summary>
    public static readonly DType[] All =
        [DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q8_0, DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.Q8_K, DType.IQ4_NL, DType.IQ4_XS, DType.MXFP4];

    public static GgmlType Ggml(DType t) => Enum.Parse<GgmlType>(t.ToString());

    /// <summary>ggml's dequantize_row_* suffix.</summary>
    public static string GgmlName(DType t) => t.ToString().ToLowerInvariant().Replace("_k", "_K", StringComparison.Ordinal);

    /// <summary>Random rows of roughly Gaussian values with a few outliers, as weights look.</summary>
    public static float[] RandomWeights(Random rng, int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) * 0.05);
            if (rng.Next(97) == 0) v[i] *= 6;
        }
        return v;
    }

    /// <summary>
    /// <paramref name="rows"/>×<paramref name="cols"/> values quantized by ggml. Q8_K is not a
    /// ggml_quantize_chunk target (it is only an activation format), so it uses quantize_row_q8_K_ref.
    /// </summary>
    public static byte[] Quantize(DType t, float[] values, int rows, int cols)
    {
        if (t != DType.Q8_K) return GgmlQuantOracle.Quantize((int)Ggml(t), values, rows, cols);
        var f = (delegate* unmanaged<float*, void*, long, void>)LlamaCppLibrary.GgmlBaseExport("quantize_row_q8_K_ref");
        var dst = new byte[DTypeInfo.RowBytes(t, (long)rows * cols)];
        fixed (float* s = values)
        fixed (byte* d = dst)
            f(s, d, (long)rows * cols);
        return dst;
    }
}
