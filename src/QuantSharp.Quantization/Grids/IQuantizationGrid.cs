// The contract of a quantization grid: fp32 tensor → codes + scales → fp32, with a documented error bound.
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// A set of representable values (integers, NF4 levels, FP8/FP4 numbers) scaled per group of a
/// [rows × columns] fp32 tensor. Quantization is deterministic and independent of thread count.
/// </summary>
public interface IQuantizationGrid
{
    /// <summary>Short name, e.g. "int4-asym group 128", "nf4 group 64", "fp8-e4m3 per-channel".</summary>
    string Name { get; }

    /// <summary>Bits per code.</summary>
    int CodeBits { get; }

    /// <summary>Which values share a scale.</summary>
    GridGrouping Grouping { get; }

    /// <summary>
    /// Quantizes a row-major [<paramref name="rows"/> × <paramref name="columns"/>] tensor. Throws
    /// <see cref="ArgumentException"/> on a shape mismatch or a NaN/infinite value (naming its row and column).
    /// </summary>
    GridTensor Quantize(ReadOnlySpan<float> values, int rows, int columns);

    /// <summary>Writes the values <paramref name="tensor"/> stands for (Rows·Columns floats) to <paramref name="destination"/>.</summary>
    void Dequantize(GridTensor tensor, Span<float> destination);

    /// <summary>
    /// The documented bound on |x − dequantize(quantize(x))| for a value <paramref name="value"/> of a
    /// group quantized with <paramref name="scale"/> and <paramref name="zero"/> (0 for float grids),
    /// fp32 rounding included. Each grid's XML docs and docs/quantization-grids.md derive it.
    /// </summary>
    double ErrorBound(float value, float scale, byte zero);
}
