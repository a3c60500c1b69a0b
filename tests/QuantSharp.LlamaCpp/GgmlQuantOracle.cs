// ggml's own quantizers and dequantizers (libggml-base), the oracle for bit-exact block formats.
namespace QuantSharp.LlamaCpp;

/// <summary>
/// Calls ggml b8390's row quantization and dequantization directly. <see cref="Quantize"/> goes
/// through ggml_quantize_chunk, i.e. exactly what llama_model_quantize does per tensor (the
/// reference quantizer without an importance matrix, the imatrix-weighted one with it).
/// </summary>
public static unsafe class GgmlQuantOracle
{
    /// <summary>
    /// Quantizes <paramref name="rows"/> rows of <paramref name="rowLength"/> floats to ggml type id
    /// <paramref name="ggmlType"/> with an optional importance vector of <paramref name="rowLength"/> weights.
    /// </summary>
    public static byte[] Quantize(int ggmlType, ReadOnlySpan<float> source, int rows, int rowLength, ReadOnlySpan<float> importance = default)
    {
        if (source.Length != (long)rows * rowLength) throw new ArgumentException("source is not rows × rowLength");
        if (!importance.IsEmpty && importance.Length != rowLength) throw new ArgumentException("importance must have rowLength entries");
        LlamaCppLibrary.EnsureLoaded();
        var init = (delegate* unmanaged<int, void>)LlamaCppLibrary.GgmlBaseExport("ggml_quantize_init");
        var rowSize = (delegate* unmanaged<int, long, nuint>)LlamaCppLibrary.GgmlBaseExport("ggml_row_size");
        var chunk = (delegate* unmanaged<int, float*, void*, long, long, long, float*, nuint>)LlamaCppLibrary.GgmlBaseExport("ggml_quantize_chunk");
        init(ggmlType);
        long bytesPerRow = (long)rowSize(ggmlType, rowLength);
        var dst = new byte[bytesPerRow * rows];
        fixed (float* s = source)
        fixed (float* imp = importance)
        fixed (byte* d = dst)
        {
            nuint written = chunk(ggmlType, s, d, 0, rows, rowLength, importance.IsEmpty ? null : imp);
            if ((long)written != dst.Length) throw new InvalidOperationException($"ggml_quantize_chunk wrote {written} bytes, expected {dst.Length}");
        }
        return dst;
    }

    /// <summary>Dequantizes <paramref name="count"/> values with ggml's dequantize_row_<paramref name="typeName"/> (e.g. "q4_K").</summary>
    public static float[] Dequantize(string typeName, ReadOnlySpan<byte> data, int count)
    {
        var f = (delegate* unmanaged<void*, float*, long, void>)LlamaCppLibrary.GgmlBaseExport("dequantize_row_" + typeName);
        var y = new float[count];
        fixed (byte* x = data)
        fixed (float* yp = y)
            f(x, yp, count);
        return y;
    }

    /// <summary>Bytes of one row of <paramref name="rowLength"/> values in ggml type <paramref name="ggmlType"/>.</summary>
    public static long RowSize(int ggmlType, int rowLength)
    {
        var rowSize = (delegate* unmanaged<int, long, nuint>)LlamaCppLibrary.GgmlBaseExport("ggml_row_size");
        return (long)rowSize(ggmlType, rowLength);
    }
}
