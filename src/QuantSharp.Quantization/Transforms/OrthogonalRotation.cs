// A seeded orthogonal matrix Q applied to row vectors (x ← x·Q): a randomized Hadamard, or a random orthogonal fallback.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// An orthogonal n×n matrix Q, applied to row vectors without being built: x ← x·Q.
/// <para>Randomized Hadamard (QuaRot): Q = D·(H_m ⊗ H_{2^k})/√n with D = diag(±1) drawn from the seed; applied as
/// a sign flip, a fast Walsh–Hadamard transform of each 2^k block and a small dense m×m product across blocks,
/// O(n·(log n + m)). Orders without a Hadamard construction (see <see cref="HadamardMatrix.Factor"/>) get a random
/// orthogonal matrix instead — Gram–Schmidt (twice, for orthogonality to rounding) of a seeded Gaussian matrix,
/// i.e. the Q of its QR factorization — applied densely in O(n²) per vector; <see cref="Description"/> names which.</para>
/// <para>All arithmetic is in double. The result for a vector depends only on the vector, so applying it to rows
/// in parallel gives the same bytes at any thread count.</para>
/// </summary>
public sealed class OrthogonalRotation
{
    private readonly double[] _signs;
    private readonly int _m, _block;
    private readonly double[]? _small; // H_m, row-major (m > 1)
    private readonly double[]? _dense; // the fallback Q, row-major
    private readonly double _scale;

    private OrthogonalRotation(int size, string description, string construction, double[] signs, int m, int block, double[]? small, double[]? dense)
    {
        Size = size;
        Description = description;
        Construction = construction;
        _signs = signs;
        _m = m;
        _block = block;
        _small = small;
        _dense = dense;
        _scale = dense is null ? 1.0 / Math.Sqrt(size) : 1.0;
    }

    /// <summary>The order n.</summary>
    public int Size { get; }

    /// <summary>What Q is, for logs: "randomized Hadamard 12·2^6 (Paley)" or the fallback's name.</summary>
    public string Description { get; }

    /// <summary>Whether Q is a (randomized) Hadamard matrix rather than the dense fallback.</summary>
    public bool IsHadamard => _dense is null;

    /// <summary>The matrix as a rotation record names it (ASCII, stable): "sylvester 2^k", "paley M x sylvester 2^k" or "qr_gaussian".</summary>
    public string Construction { get; }

    /// <summary>This rotation (drawn with random signs, as model rotations are) as a rotation record names it, with its seed.</summary>
    public RotationMatrixRecord ToRecord(ulong seed) => new(Size, IsHadamard ? "randomized_hadamard" : "random_orthogonal", Construction, seed);

    /// <summary>
    /// A randomized Hadamard matrix of order <paramref name="size"/> (signs from <paramref name="seed"/>), or the
    /// random orthogonal fallback when the order has no Hadamard construction. <paramref name="randomSigns"/> false
    /// gives the plain normalized Hadamard (D = I), e.g. for tests against the explicit matrix.
    /// </summary>
    public static OrthogonalRotation Create(int size, ulong seed, bool randomSigns = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var rng = new CalibrationRandom(seed);
        var signs = new double[size];
        for (int i = 0; i < size; i++) signs[i] = !randomSigns || (rng.NextUInt64() >> 63) == 0 ? 1.0 : -1.0;
        if (HadamardMatrix.Factor(size) is var (m, p))
        {
            double[]? small = null;
            if (m > 1) small = Array.ConvertAll(HadamardMatrix.Small(m), v => (double)v);
            string what = m == 1 ? $"Hadamard 2^{Log2(p)}" : $"Hadamard {m}·2^{Log2(p)} (Paley order {m} ⊗ Sylvester)";
            string construction = (m == 1 ? "" : $"paley {m} x ") + $"sylvester 2^{Log2(p)}";
            return new OrthogonalRotation(size, (randomSigns ? "randomized " : "") + what, construction, signs, m, p, small, null);
        }
        return new OrthogonalRotation(size, $"random orthogonal (QR of a seeded Gaussian; no Hadamard construction of order {size})", "qr_gaussian",
            signs, 1, size, null, RandomOrthogonal(size, rng));
    }

    private static int Log2(int p) => System.Numerics.BitOperations.Log2((uint)p);

    /// <summary>In place, x ← x·Q. <paramref name="scratch"/> holds at least <see cref="Size"/> values.</summary>
    public void ApplyRight(Span<double> x, Span<double> scratch)
    {
        if (x.Length != Size) throw new ArgumentException($"vector of {x.Length} values for a rotation of order {Size}", nameof(x));
        if (_dense is { } q)
        {
            // y_j = Σ_i x_i Q[i, j], accumulated row by row of Q for sequential access.
            var y = scratch[..Size];
            y.Clear();
            for (int i = 0; i < Size; i++)
            {
                double xi = x[i];
                var row = q.AsSpan(i * Size, Size);
                for (int j = 0; j < Size; j++) y[j] += xi * row[j];
            }
            y.CopyTo(x);
            return;
        }
        for (int i = 0; i < Size; i++) x[i] *= _signs[i];
        // x as an m×2^k matrix X (index a·2^k + b): x·(A ⊗ B) = Aᵀ·X·B. B (Sylvester) on each row first …
        for (int a = 0; a < _m; a++) HadamardMatrix.TransformInPlace(x.Slice(a * _block, _block));
        if (_small is { } h)
        {
            // … then Aᵀ across the rows, one column b at a time: y_c = Σ_a A[a, c]·X[a, b].
            var col = scratch[.._m];
            for (int b = 0; b < _block; b++)
            {
                for (int a = 0; a < _m; a++) col[a] = x[a * _block + b];
                for (int c = 0; c < _m; c++)
                {
                    double s = 0;
                    for (int a = 0; a < _m; a++) s += h[a * _m + c] * col[a];
                    x[c * _block + b] = s;
                }
            }
        }
        for (int i = 0; i < Size; i++) x[i] *= _scale;
    }

    /// <summary>Q as an explicit row-major matrix (row i = e_i·Q), for tests and small orders.</summary>
    public double[] ToMatrix()
    {
        var q = new double[Size * Size];
        var scratch = new double[Size];
        for (int i = 0; i < Size; i++)
        {
            var row = q.AsSpan(i * Size, Size);
            row[i] = 1;
            ApplyRight(row, scratch);
        }
        return q;
    }

    // Modified Gram–Schmidt, run twice per column, over the columns of a seeded standard-normal matrix: the Q of
    // its QR factorization (up to column signs), returned row-major.
    private static double[] RandomOrthogonal(int n, CalibrationRandom rng)
    {
        var cols = new double[n][];
        for (int j = 0; j < n; j++)
        {
            var v = new double[n];
            for (int i = 0; i < n; i++) v[i] = Gaussian(rng);
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++) dot += cols[k][i] * v[i];
                    for (int i = 0; i < n; i++) v[i] -= dot * cols[k][i];
                }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += v[i] * v[i];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++) v[i] /= norm;
            cols[j] = v;
        }
        var q = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) q[i * n + j] = cols[j][i];
        return q;
    }

    // Box–Muller from two 53-bit uniforms in (0, 1].
    private static double Gaussian(CalibrationRandom rng)
    {
        double u1 = ((rng.NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));
        double u2 = (rng.NextUInt64() >> 11) * (1.0 / (1UL << 53));
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
