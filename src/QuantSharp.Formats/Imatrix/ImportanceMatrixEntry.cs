// One weight tensor's activation statistics in an importance matrix: Σx² per input column and token counts.
namespace QuantSharp.Formats.Imatrix;

/// <summary>
/// The statistics llama-imatrix keeps for one weight tensor (keyed by its GGUF name, e.g.
/// "blk.0.attn_q.weight"): for each of <see cref="MatrixCount"/> matrices (1 for a dense weight,
/// one per expert for a merged MoE tensor) the sum over calibration tokens of the squared input
/// activation of every input column, and how many tokens were summed.
/// </summary>
public sealed class ImportanceMatrixEntry
{
    /// <summary>Creates an entry, checking that the arrays agree and hold possible values.</summary>
    /// <param name="name">GGUF name of the weight tensor.</param>
    /// <param name="columns">Input columns per matrix (the weight's row length).</param>
    /// <param name="sumOfSquares">Σx² per column, matrix after matrix: <paramref name="columns"/> × counts.Length values, finite and ≥ 0.</param>
    /// <param name="counts">Tokens summed per matrix (≥ 0).</param>
    public ImportanceMatrixEntry(string name, int columns, float[] sumOfSquares, long[] counts)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sumOfSquares);
        ArgumentNullException.ThrowIfNull(counts);
        if (name.Length == 0) throw new ArgumentException("importance matrix entry has an empty name", nameof(name));
        if (columns < 1) throw new ArgumentException($"entry '{name}': {columns} columns; expected at least 1", nameof(columns));
        if (counts.Length < 1) throw new ArgumentException($"entry '{name}': no counts; expected one per matrix", nameof(counts));
        if (sumOfSquares.Length != (long)columns * counts.Length)
            throw new ArgumentException($"entry '{name}': {sumOfSquares.Length} sums for {counts.Length} matrices of {columns} columns; expected {(long)columns * counts.Length}", nameof(sumOfSquares));
        for (int i = 0; i < counts.Length; i++)
            if (counts[i] < 0) throw new ArgumentException($"entry '{name}': count {i} is {counts[i]}; expected ≥ 0", nameof(counts));
        for (int i = 0; i < sumOfSquares.Length; i++)
            if (!float.IsFinite(sumOfSquares[i]) || sumOfSquares[i] < 0)
                throw new ArgumentException($"entry '{name}': sum of squares {i} is {sumOfSquares[i]}; expected a finite value ≥ 0", nameof(sumOfSquares));
        Name = name;
        Columns = columns;
        SumOfSquares = sumOfSquares;
        Counts = counts;
    }

    /// <summary>GGUF name of the weight tensor.</summary>
    public string Name { get; }

    /// <summary>Input columns per matrix.</summary>
    public int Columns { get; }

    /// <summary>Number of matrices (1 for a dense weight).</summary>
    public int MatrixCount => Counts.Length;

    /// <summary>Σx² per column, <see cref="Columns"/> values per matrix, matrix after matrix.</summary>
    public float[] SumOfSquares { get; }

    /// <summary>Tokens summed, per matrix.</summary>
    public long[] Counts { get; }

    /// <summary>
    /// The per-column importance llama-quantize derives from a GGUF imatrix: Σx² / count for each
    /// matrix with tokens, 1 for every column of a matrix that saw none (computed in float, as it does).
    /// </summary>
    public float[] MeanSquares()
    {
        var result = new float[SumOfSquares.Length];
        for (int m = 0; m < Counts.Length; m++)
        {
            float count = Counts[m];
            var src = SumOfSquares.AsSpan(m * Columns, Columns);
            var dst = result.AsSpan(m * Columns, Columns);
            if (count > 0f)
                for (int i = 0; i < Columns; i++) dst[i] = src[i] / count;
            else
                dst.Fill(1f);
        }
        return result;
    }
}
