// Applying an orthogonal Q to a weight matrix from either side, whole or per head-sized segment, in parallel over independent vectors.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// The two ways a rotation enters a linear layer W [out, in] (y = x·Wᵀ, x a row vector):
/// <list type="bullet">
/// <item>its input is rotated (x' = x·Q): W' = W·Q, i.e. every row w ← w·Q (<see cref="RotateRows"/>);</item>
/// <item>its output is rotated (y' = y·Q): W' = Qᵀ·W, i.e. every column c ← c·Q read as a row (<see cref="RotateColumns"/>).</item>
/// </list>
/// With a segment of Q's order smaller than the dimension, each consecutive segment is rotated on its own — the
/// block-diagonal diag(Q, …, Q) of a per-head rotation. Each vector is transformed in double and rounded to fp32
/// once; vectors are independent, so the bytes do not depend on <c>threads</c>.
/// </summary>
public static class MatrixRotation
{
    /// <summary>W ← W·diag(Q, …, Q): each row's consecutive Q-sized segments (the whole row when Q has the row's width) times Q.</summary>
    public static void RotateRows(FloatMatrix w, OrthogonalRotation q, int threads)
    {
        CheckSegments(w.Name, w.Cols, q, "columns");
        ScopedParallel.For(0, w.Rows, () => new Buffers(q.Size), (r, buf) =>
        {
            var row = w.Row(r);
            for (int s = 0; s < row.Length; s += q.Size) Rotate(row.Slice(s, q.Size), q, buf);
        }, MaxThreads(threads));
    }

    /// <summary>W ← diag(Q, …, Q)ᵀ·W: each column's consecutive Q-sized segments (the whole column when Q has its height) times Q.</summary>
    public static void RotateColumns(FloatMatrix w, OrthogonalRotation q, int threads)
    {
        CheckSegments(w.Name, w.Rows, q, "rows");
        int n = q.Size, cols = w.Cols;
        ScopedParallel.For(0, cols, () => new Buffers(n), (c, buf) =>
        {
            var v = w.Values;
            for (int s = 0; s < w.Rows; s += n)
            {
                var x = buf.Vector;
                for (int i = 0; i < n; i++) x[i] = v[(s + i) * cols + c];
                q.ApplyRight(x, buf.Scratch);
                for (int i = 0; i < n; i++) v[(s + i) * cols + c] = (float)x[i];
            }
        }, MaxThreads(threads));
    }

    /// <summary>A vector's consecutive Q-sized segments times Q (a bias of a linear whose output is rotated).</summary>
    public static void RotateVector(string name, Span<float> values, OrthogonalRotation q)
    {
        CheckSegments(name, values.Length, q, "values");
        var buf = new Buffers(q.Size);
        for (int s = 0; s < values.Length; s += q.Size) Rotate(values.Slice(s, q.Size), q, buf);
    }

    private static void Rotate(Span<float> segment, OrthogonalRotation q, Buffers buf)
    {
        var x = buf.Vector;
        for (int i = 0; i < x.Length; i++) x[i] = segment[i];
        q.ApplyRight(x, buf.Scratch);
        for (int i = 0; i < x.Length; i++) segment[i] = (float)x[i];
    }

    private static void CheckSegments(string name, int length, OrthogonalRotation q, string what)
    {
        if (length % q.Size != 0)
            throw new ArgumentException($"tensor '{name}': {length} {what} are not a multiple of the rotation's order {q.Size}");
    }

    // 0 (or less) leaves the cap to the caller's kernel scope (KernelOptions.Threads, all cores by default).
    private static int MaxThreads(int threads) => Math.Max(0, threads);

    private sealed class Buffers(int n)
    {
        public readonly double[] Vector = new double[n];
        public readonly double[] Scratch = new double[n];
    }
}
