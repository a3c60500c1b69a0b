// GPTQ onto GGUF block grids: ggml block bytes whose rounding carries GPTQ's error feedback.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// GPTQ with a GGUF block type as the grid. Columns are swept in order (blocks must stay contiguous,
/// so there is no act-order); when the sweep reaches the first column of a block (32 or 256 columns)
/// each row's block parameters come from the format's ggml scale search on the current,
/// error-updated weights, with diag(H) as importance if asked; each value is then rounded to the
/// nearest point of its block's grid and the error fed forward as in GPTQ. The output is ordinary
/// ggml bytes, loadable wherever llama-quantize's are.
/// </summary>
public static class GptqBlockQuantizer
{
    /// <summary>The block types this quantizer can target.</summary>
    public static IReadOnlyList<DType> SupportedTypes { get; } =
        [DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.Q4_0, DType.Q8_0, DType.IQ4_NL];

    /// <summary>Whether <paramref name="type"/> is in <see cref="SupportedTypes"/>.</summary>
    public static bool Supports(DType type) => SupportedTypes.Contains(type);

    /// <summary>
    /// Quantizes W [<paramref name="rows"/> × <paramref name="cols"/>, row-major] given
    /// H = 2/n Σ x xᵀ [cols × cols] into <see cref="GptqBlockOptions.Type"/> blocks.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes do not match (cols must be a multiple of the block size), a value is not finite, or H stays indefinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static GptqBlockResult Quantize(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<double> hessian, GptqBlockOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        HessianPreparation.Validate(weight, rows, cols, hessian);
        return QuantizeInPlace(weight, rows, cols, hessian.ToArray(), options, warn);
    }

    /// <summary>
    /// <see cref="Quantize"/> with <paramref name="hessian"/> as its workspace: it is permuted and
    /// factorised in place (LAPACK-style), so the layer needs one cols×cols array instead of several.
    /// Same result bit for bit. <paramref name="hessian"/> is overwritten (its content afterwards is unspecified).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes do not match (cols must be a multiple of the block size), a value is not finite, or H stays indefinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static GptqBlockResult QuantizeInPlace(ReadOnlySpan<float> weight, int rows, int cols, double[] hessian, GptqBlockOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        HessianPreparation.Validate(weight, rows, cols, hessian);
        var format = (IBlockGrid)BlockFormatRegistry.Get(options.Type);
        int bs = format.BlockSize;
        if (cols % bs != 0)
            throw new ArgumentException($"GPTQ: {options.Type} needs rows that are whole {bs}-value blocks, but the weight has {cols} columns", nameof(cols));

        BlockFormatBase.CheckRepresentable(options.Type, bs, weight, cols, $"GPTQ {options.Type} weight [{rows} × {cols}]");
        var dead = HessianPreparation.DeadColumns(hessian, cols);
        var perm = HessianPreparation.Identity(cols);
        var w = new double[(long)rows * cols];
        for (int r = 0; r < rows; r++)
        {
            var src = weight.Slice(r * cols, cols);
            long o = (long)r * cols;
            for (int c = 0; c < cols; c++) w[o + c] = dead[c] ? 0 : src[c];
        }
        float[]? importance = null;
        if (options.HessianImportance)
        {
            importance = new float[cols];
            for (int c = 0; c < cols; c++) importance[c] = (float)hessian[c * cols + c];
        }

        long t0 = Stopwatch.GetTimestamp();
        HessianPreparation.PermuteInPlace(hessian, cols, perm, dead);
        var upper = HessianPreparation.InverseFactor(hessian, cols, options.Damping, warn);
        long t1 = Stopwatch.GetTimestamp();
        int rowBytes = cols / bs * format.BlockBytes;
        var data = new byte[(long)rows * rowBytes];
        var grid = new BlockFormatColumnGrid(format, data, cols, importance);
        var rounded = new double[(long)rows * cols];
        GptqSweep.Run(w, rows, cols, upper, options.BlockSize, grid, rounded);
        long t2 = Stopwatch.GetTimestamp();
        // Error feedback can push a block's values past what an fp16 scale holds even when the input fitted.
        BlockScaleCheck.ThrowIfNonFinite(options.Type, data, $"GPTQ {options.Type} weight [{rows} × {cols}]", cols / bs);

        var dequantized = new float[(long)rows * cols];
        for (int r = 0; r < rows; r++)
            BlockDequantizer.DequantizeRow(options.Type, data.AsSpan((int)((long)r * rowBytes), rowBytes), dequantized.AsSpan((int)((long)r * cols), cols));
        return new GptqBlockResult
        {
            Type = options.Type, Rows = rows, Cols = cols, Data = data, Dequantized = dequantized,
            FactorTime = Stopwatch.GetElapsedTime(t0, t1), SweepTime = Stopwatch.GetElapsedTime(t1, t2),
        };
    }
}
