// Statistics of the inputs one group of linear layers sees: GPTQ's Hessian and imatrix-style mean squares.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// Accumulates, over all calibration tokens x (rows of width <see cref="Columns"/>) fed to a linear
/// layer: Σ x xᵀ in fp64 (from fp32 GEMM batches of at most <see cref="BatchRows"/> rows) and Σ x²
/// per column. <see cref="Hessian"/> = 2/n Σ x xᵀ (n = tokens; GPTQ's reference divides by the
/// number of sequences instead, a constant factor its result does not depend on since dampening is
/// relative to the mean diagonal); <see cref="MeanSquares"/> = Σ x²/n per column, what an
/// importance matrix (llama.cpp imatrix) holds. Accumulation order is fixed, so results do not
/// depend on the thread count.
/// </summary>
public sealed unsafe class LinearInputStatistics
{
    /// <summary>Rows per fp32 GEMM batch before adding into the fp64 sum.</summary>
    public const int BatchRows = 512;

    /// <summary>Rows of XᵀX per GEMM call (a block row of the lower triangle).</summary>
    private const int TileRows = 128;

    private double[]? _xxT;
    private readonly double[] _sumSq;
    private float[]? _transposed; // pinned [Columns, BatchRows]
    private float[]? _gram;       // [TileRows, Columns]

    /// <summary>Creates an empty accumulator.</summary>
    /// <param name="columns">Input width of the linear layer.</param>
    /// <param name="withHessian">Whether to accumulate Σ x xᵀ (columns² doubles) or only the mean squares.</param>
    public LinearInputStatistics(int columns, bool withHessian)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        Columns = columns;
        _sumSq = new double[columns];
        if (withHessian) _xxT = new double[(long)columns * columns];
    }

    /// <summary>Input width.</summary>
    public int Columns { get; }

    /// <summary>Tokens seen.</summary>
    public long Count { get; private set; }

    /// <summary>Whether Σ x xᵀ is being accumulated.</summary>
    public bool HasHessian => _xxT != null;

    /// <summary>Adds <paramref name="rows"/> input rows (row-major, width <see cref="Columns"/>).</summary>
    public void Add(ReadOnlySpan<float> x, int rows)
    {
        int k = Columns;
        if (x.Length < (long)rows * k) throw new ArgumentException($"{x.Length} values hold fewer than {rows} rows of {k}");
        for (int r = 0; r < rows; r++) AddSquares(x.Slice(r * k, k), _sumSq);
        Count += rows;
        if (_xxT == null) return;
        _transposed ??= GC.AllocateUninitializedArray<float>(k * BatchRows, pinned: true);
        _gram ??= new float[(long)Math.Min(TileRows, k) * k];
        var acc = _xxT.AsSpan();
        for (int start = 0; start < rows; start += BatchRows)
        {
            int n = Math.Min(BatchRows, rows - start);
            // Xᵀ [k, n] so that MatMul's C = A·Wᵀ with A and W both row ranges of Xᵀ gives blocks of XᵀX.
            var t = _transposed.AsSpan(0, k * n);
            Transpose(x.Slice(start * k, n * k), n, k, t);
            // XᵀX is symmetric: only block rows of the lower triangle are multiplied (rows r0…r0+tr
            // against columns 0…r0+tr), about half the FLOPs of the full product; the upper
            // triangle is mirrored when the Hessian is read.
            for (int r0 = 0; r0 < k; r0 += TileRows)
            {
                int tr = Math.Min(TileRows, k - r0), width = r0 + tr;
                var view = new TensorView("calibration inputs", DType.F32, [width, n],
                    (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_transposed)), (long)width * n * sizeof(float));
                var block = _gram.AsSpan(0, tr * width);
                MatMul.Multiply(t.Slice(r0 * n, tr * n), tr, view, block);
                for (int i = 0; i < tr; i++)
                {
                    int r = r0 + i;
                    AddWidened(block.Slice(i * width, r + 1), acc.Slice(r * k, r + 1));
                }
            }
        }
    }

    // Element-wise helpers: each output element keeps its own summation order (row after row), so
    // the SIMD paths give exactly the scalar results.

    /// <summary>sums[c] += row[c]², in fp64.</summary>
    private static void AddSquares(ReadOnlySpan<float> row, Span<double> sums)
    {
        int c = 0;
        if (Vector.IsHardwareAccelerated)
            for (; c <= row.Length - Vector<float>.Count; c += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(row.Slice(c)), out var lo, out var hi);
                var s0 = sums.Slice(c);
                var s1 = sums.Slice(c + Vector<double>.Count);
                (new Vector<double>(s0) + lo * lo).CopyTo(s0);
                (new Vector<double>(s1) + hi * hi).CopyTo(s1);
            }
        for (; c < row.Length; c++) sums[c] += (double)row[c] * row[c];
    }

    /// <summary>dst[c] += src[c], widened to fp64.</summary>
    private static void AddWidened(ReadOnlySpan<float> src, Span<double> dst)
    {
        int c = 0;
        if (Vector.IsHardwareAccelerated)
            for (; c <= src.Length - Vector<float>.Count; c += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(src.Slice(c)), out var lo, out var hi);
                var d0 = dst.Slice(c);
                var d1 = dst.Slice(c + Vector<double>.Count);
                (new Vector<double>(d0) + lo).CopyTo(d0);
                (new Vector<double>(d1) + hi).CopyTo(d1);
            }
        for (; c < src.Length; c++) dst[c] += src[c];
    }

    /// <summary>t [k, n] = xᵀ for x [n, k], in 16×16 tiles so that both sides stay in cache.</summary>
    private static void Transpose(ReadOnlySpan<float> x, int n, int k, Span<float> t)
    {
        const int Tile = 16;
        for (int r0 = 0; r0 < n; r0 += Tile)
        {
            int r1 = Math.Min(n, r0 + Tile);
            for (int c0 = 0; c0 < k; c0 += Tile)
            {
                int c1 = Math.Min(k, c0 + Tile);
                for (int r = r0; r < r1; r++)
                {
                    var row = x.Slice(r * k, k);
                    for (int c = c0; c < c1; c++) t[c * n + r] = row[c];
                }
            }
        }
    }

    /// <summary>Σ x²/n per column (zeros before any input).</summary>
    public double[] MeanSquares()
    {
        var m = new double[Columns];
        if (Count > 0) for (int c = 0; c < Columns; c++) m[c] = _sumSq[c] / Count;
        return m;
    }

    /// <summary>H = 2/n Σ x xᵀ, [Columns × Columns] row-major fp64 (a new array).</summary>
    public double[] Hessian()
    {
        if (_xxT == null) throw new InvalidOperationException("this accumulator was created without the Hessian");
        if (Count == 0) throw new InvalidOperationException("no calibration inputs were added");
        var h = (double[])_xxT.Clone();
        ToHessian(h);
        return h;
    }

    /// <summary>
    /// <see cref="Hessian"/> without a copy: Σ x xᵀ is scaled in place and handed over, and this
    /// accumulator no longer has a Hessian (for the last layer that needs it).
    /// </summary>
    public double[] TakeHessian()
    {
        if (_xxT == null) throw new InvalidOperationException("this accumulator was created without the Hessian, or it was already taken");
        if (Count == 0) throw new InvalidOperationException("no calibration inputs were added");
        var h = _xxT;
        ToHessian(h);
        _xxT = null;
        _transposed = null;
        _gram = null;
        return h;
    }

    /// <summary>Σ x xᵀ (lower triangle accumulated) → 2/n Σ x xᵀ, the lower triangle copied onto the upper one (exactly symmetric).</summary>
    private void ToHessian(double[] h)
    {
        double f = 2.0 / Count;
        for (long i = 0; i < h.Length; i++) h[i] *= f;
        int k = Columns;
        for (int r = 0; r < k; r++)
            for (int c = 0; c < r; c++) h[(long)c * k + r] = h[(long)r * k + c];
    }

    /// <summary>Drops the scratch buffers (the sums stay).</summary>
    public void ReleaseScratch() { _transposed = null; _gram = null; }
}
