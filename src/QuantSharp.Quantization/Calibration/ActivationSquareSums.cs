// Accumulates Σx² per input column of every observed weight multiplication: the raw statistics of an importance matrix.
using System.Numerics;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// An <see cref="IMatMulObserver"/> that keeps, per weight, the sum of squared inputs of each column
/// and the number of rows (tokens), with llama-imatrix b8390's selection: weights whose name starts
/// with "blk.", plus "output.weight" when <see cref="ProcessOutput"/>; batches of fewer than
/// <see cref="MinimumRows"/> rows are ignored (llama-imatrix skips them too). Stacked expert tensors
/// (llama-imatrix's MUL_MAT_ID) keep one matrix of sums and one count per expert, from the rows routed to
/// that expert only, whatever the batch size (llama-imatrix collects every indirect multiplication).
/// Sums are kept in double and rows are added in order, so the result does not depend on the
/// thread count (llama-imatrix adds in float; the difference is float rounding of long sums).
/// </summary>
public sealed class ActivationSquareSums : IMatMulObserver
{
    /// <summary>llama-imatrix ignores multiplications with fewer rows than this.</summary>
    public const int MinimumRows = 16;

    // Columns per parallel work item; each column's rows are still summed in order by one thread.
    private const int ColumnsPerItem = 256;

    private readonly Dictionary<string, Accumulator> _byName = new(StringComparer.Ordinal);

    /// <summary>Creates an empty accumulator.</summary>
    /// <param name="processOutput">Also collect the classifier "output.weight" (llama-imatrix --process-output).</param>
    public ActivationSquareSums(bool processOutput = false) => ProcessOutput = processOutput;

    /// <summary>Whether "output.weight" is collected.</summary>
    public bool ProcessOutput { get; }

    /// <summary>Weights seen so far.</summary>
    public IReadOnlyCollection<string> WeightNames => _byName.Keys;

    /// <summary>Whether llama-imatrix would collect statistics for a weight of this name.</summary>
    public bool Collects(string weightName)
        => weightName.StartsWith("blk.", StringComparison.Ordinal) || (ProcessOutput && weightName == LlamaGgufNames.Output);

    /// <inheritdoc/>
    public void OnMatMulInput(string weightName, ReadOnlySpan<float> input, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(weightName);
        if (rows < MinimumRows || !Collects(weightName)) return;
        if (columns < 1 || input.Length < (long)rows * columns)
            throw new ArgumentException($"'{weightName}': {input.Length} inputs for {rows} rows of {columns} columns", nameof(input));
        var acc = AccumulatorOf(weightName, columns, 1);
        Accumulate(input[..(rows * columns)], rows, columns, acc.Sums, 0);
        acc.Rows[0] += rows;
    }

    /// <inheritdoc/>
    public void OnExpertMatMulInput(string weightName, int expert, int experts, ReadOnlySpan<float> input, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(weightName);
        ArgumentOutOfRangeException.ThrowIfNegative(expert);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(expert, experts);
        if (rows == 0 || !Collects(weightName)) return;
        if (columns < 1 || input.Length < (long)rows * columns)
            throw new ArgumentException($"'{weightName}' expert {expert}: {input.Length} inputs for {rows} rows of {columns} columns", nameof(input));
        var acc = AccumulatorOf(weightName, columns, experts);
        Accumulate(input[..(rows * columns)], rows, columns, acc.Sums, expert * columns);
        acc.Rows[expert] += rows;
    }

    private Accumulator AccumulatorOf(string weightName, int columns, int matrices)
    {
        if (!_byName.TryGetValue(weightName, out var acc))
            _byName.Add(weightName, acc = new Accumulator(columns, matrices));
        else if (acc.Columns != columns || acc.Rows.Length != matrices)
            throw new InvalidOperationException(
                $"'{weightName}': inputs of {matrices} matri{(matrices == 1 ? "x" : "ces")} of {columns} columns after earlier inputs of {acc.Rows.Length} of {acc.Columns}");
        return acc;
    }

    /// <summary>Rows (tokens) accumulated for <paramref name="weightName"/> (all experts together), 0 when never seen.</summary>
    public long RowsOf(string weightName) => _byName.TryGetValue(weightName, out var a) ? a.Rows.Sum() : 0;

    /// <summary>
    /// The statistics as an importance matrix. The chunk count is llama-imatrix's: the largest row
    /// count divided by <paramref name="chunkSize"/>.
    /// </summary>
    /// <param name="chunkSize">Tokens per calibration chunk.</param>
    /// <param name="datasets">Names of the calibration data sets.</param>
    public ImportanceMatrix ToImportanceMatrix(int chunkSize, IEnumerable<string> datasets)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        var entries = new List<ImportanceMatrixEntry>(_byName.Count);
        long maxRows = 0;
        foreach (var (name, acc) in _byName)
        {
            var sums = new float[acc.Sums.Length];
            for (int j = 0; j < sums.Length; j++)
            {
                sums[j] = (float)acc.Sums[j];
                if (!float.IsFinite(sums[j]))
                    throw new InvalidOperationException($"'{name}': the sum of squares of column {j} is {sums[j]}; the model produced non-finite activations");
            }
            entries.Add(new ImportanceMatrixEntry(name, acc.Columns, sums, (long[])acc.Rows.Clone()));
            maxRows = Math.Max(maxRows, acc.Rows.Max());
        }
        return new ImportanceMatrix(entries, (int)Math.Min(int.MaxValue, maxRows / chunkSize), chunkSize, datasets);
    }

    // Adds the inputs' squares to sums[offset .. offset + columns).
    private static unsafe void Accumulate(ReadOnlySpan<float> input, int rows, int columns, double[] sums, int offset)
    {
        int items = (columns + ColumnsPerItem - 1) / ColumnsPerItem;
        fixed (float* x = input)
        {
            nint address = (nint)x;
            if (items == 1) AccumulateColumns((float*)address, rows, columns, 0, columns, sums, offset);
            else ScopedParallel.For(0, items, item =>
            {
                int c0 = item * ColumnsPerItem;
                AccumulateColumns((float*)address, rows, columns, c0, Math.Min(columns, c0 + ColumnsPerItem), sums, offset);
            });
        }
    }

    // Rows in order for the columns [c0, c1): each sum sees the same additions in the same order whatever the split.
    private static unsafe void AccumulateColumns(float* x, int rows, int columns, int c0, int c1, double[] sums, int offset)
    {
        var acc = sums.AsSpan(offset + c0, c1 - c0);
        int width = acc.Length;
        int vec = Vector.IsHardwareAccelerated ? width - width % Vector<float>.Count : 0;
        var accD = MemoryMarshal.Cast<double, Vector<double>>(acc[..vec]);
        for (int r = 0; r < rows; r++)
        {
            var row = new ReadOnlySpan<float>(x + (long)r * columns + c0, width);
            var rowV = MemoryMarshal.Cast<float, Vector<float>>(row[..vec]);
            for (int i = 0; i < rowV.Length; i++)
            {
                Vector.Widen(rowV[i], out var lo, out var hi);
                accD[2 * i] += lo * lo;
                accD[2 * i + 1] += hi * hi;
            }
            for (int j = vec; j < width; j++)
            {
                double v = row[j];
                acc[j] += v * v;
            }
        }
    }

    // Sums [matrices, columns] and rows per matrix (one matrix for a dense weight, one per expert for a stacked one).
    private sealed class Accumulator(int columns, int matrices)
    {
        public readonly int Columns = columns;
        public readonly double[] Sums = new double[(long)columns * matrices];
        public readonly long[] Rows = new long[matrices];
    }
}
