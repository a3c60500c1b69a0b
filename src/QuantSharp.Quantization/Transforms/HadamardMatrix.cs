// Hadamard matrices: Sylvester (2^k) with the fast Walsh–Hadamard transform, Paley I/II constructions, Kronecker products.
namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// Integer Hadamard matrices (entries ±1, H·Hᵀ = n·I) and the fast Walsh–Hadamard transform.
/// <para>Orders supported: m·2^k where m = 1, or m has a Paley construction from a prime q —
/// Paley I: m = q + 1 with q ≡ 3 (mod 4) (4, 8, 12, 20, 24, 32, 44, …); Paley II: m = 2(q + 1) with
/// q ≡ 1 (mod 4) (12, 28, 36, 60, 76, …). The m·2^k matrix is the Kronecker product H_m ⊗ H_{2^k}
/// with Sylvester's H_{2^k}. Prime powers q (Galois fields) are not constructed; such orders fall back
/// to a random orthogonal matrix in <see cref="OrthogonalRotation"/>.</para>
/// </summary>
public static class HadamardMatrix
{
    /// <summary>Whether <paramref name="n"/> is a power of two (1 included).</summary>
    public static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;

    /// <summary>
    /// Splits <paramref name="n"/> into m·2^k with the smallest m that has a construction here (m = 1 for powers
    /// of two), or returns null when there is none.
    /// </summary>
    public static (int M, int PowerOfTwo)? Factor(int n)
    {
        if (n < 1) return null;
        // The largest power of two first: the smallest m, the cheapest dense part.
        for (int p = n & -n; p >= 1; p /= 2)
        {
            int m = n / p;
            if (m == 1 || PaleyPrime(m) is not null) return (m, p);
        }
        return null;
    }

    /// <summary>Whether an integer Hadamard matrix of order <paramref name="n"/> can be built here.</summary>
    public static bool IsConstructible(int n) => Factor(n) is not null;

    /// <summary>
    /// The integer Hadamard matrix of order <paramref name="n"/> (row-major, entries ±1), or an error naming the
    /// order when there is no construction for it. Meant for small orders and tests; large power-of-two parts are
    /// applied with <see cref="TransformInPlace"/> instead of being built.
    /// </summary>
    public static sbyte[] Build(int n)
    {
        var (m, p) = Factor(n) ?? throw new NotSupportedException($"no Hadamard construction of order {n} (supported: m·2^k with m = 1 or a Paley order)");
        return Kronecker(Small(m), m, Sylvester(p), p);
    }

    /// <summary>
    /// The Hadamard matrix of order <paramref name="m"/> (1, 2 or a Paley order: q + 1 for a prime q ≡ 3 mod 4,
    /// 2(q + 1) for a prime q ≡ 1 mod 4), row-major. Each construction is checked (H·Hᵀ = m·I) before it is returned.
    /// </summary>
    public static sbyte[] Small(int m)
    {
        sbyte[] h;
        if (m is 1 or 2) h = Sylvester(m);
        else
        {
            var (q, kind) = PaleyPrime(m) ?? throw new NotSupportedException($"no Paley construction of order {m}");
            h = kind == 1 ? PaleyI(q) : PaleyII(q);
        }
        if (!IsHadamard(h, m)) throw new InvalidOperationException($"internal error: the Paley construction of order {m} is not a Hadamard matrix");
        return h;
    }

    /// <summary>Sylvester's Hadamard matrix of order <paramref name="n"/> = 2^k: H[i, j] = (−1)^popcount(i AND j).</summary>
    public static sbyte[] Sylvester(int n)
    {
        if (!IsPowerOfTwo(n)) throw new ArgumentOutOfRangeException(nameof(n), n, "Sylvester's construction needs a power of two");
        var h = new sbyte[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                h[i * n + j] = (sbyte)((System.Numerics.BitOperations.PopCount((uint)(i & j)) & 1) == 0 ? 1 : -1);
        return h;
    }

    /// <summary>The Kronecker product A ⊗ B of square matrices (orders <paramref name="na"/>, <paramref name="nb"/>).</summary>
    public static sbyte[] Kronecker(sbyte[] a, int na, sbyte[] b, int nb)
    {
        int n = na * nb;
        var h = new sbyte[n * n];
        for (int ai = 0; ai < na; ai++)
            for (int aj = 0; aj < na; aj++)
                for (int bi = 0; bi < nb; bi++)
                    for (int bj = 0; bj < nb; bj++)
                        h[(ai * nb + bi) * n + aj * nb + bj] = (sbyte)(a[ai * na + aj] * b[bi * nb + bj]);
        return h;
    }

    /// <summary>Whether <paramref name="h"/> (order <paramref name="n"/>) satisfies H·Hᵀ = n·I exactly, in integers.</summary>
    public static bool IsHadamard(ReadOnlySpan<sbyte> h, int n)
    {
        if (h.Length != n * n) return false;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                int dot = 0;
                for (int k = 0; k < n; k++) dot += h[i * n + k] * h[j * n + k];
                if (dot != (i == j ? n : 0)) return false;
            }
        return true;
    }

    /// <summary>
    /// In place, x ← x·H for Sylvester's H of order x.Length (a power of two), unnormalized: the fast
    /// Walsh–Hadamard transform in n·log₂n additions. H is symmetric, so this is also H·x.
    /// </summary>
    public static void TransformInPlace(Span<double> x)
    {
        int n = x.Length;
        if (!IsPowerOfTwo(n)) throw new ArgumentException($"the fast Walsh–Hadamard transform needs a power-of-two length, not {n}", nameof(x));
        for (int len = 1; len < n; len <<= 1)
            for (int start = 0; start < n; start += len << 1)
            {
                var lo = x.Slice(start, len);
                var hi = x.Slice(start + len, len);
                for (int i = 0; i < len; i++)
                {
                    double a = lo[i], b = hi[i];
                    lo[i] = a + b;
                    hi[i] = a - b;
                }
            }
    }

    // The prime q and the construction (1 = Paley I, 2 = Paley II) giving order m, or null.
    private static (int Q, int Kind)? PaleyPrime(int m)
    {
        if (m < 4 || m % 4 != 0) return null;
        if (IsPrime(m - 1) && (m - 1) % 4 == 3) return (m - 1, 1);
        if (IsPrime(m / 2 - 1) && (m / 2 - 1) % 4 == 1) return (m / 2 - 1, 2);
        return null;
    }

    private static bool IsPrime(int q)
    {
        if (q < 2) return false;
        for (int d = 2; d * d <= q; d++)
            if (q % d == 0) return false;
        return true;
    }

    // Quadratic character modulo the prime q: 0 for 0, 1 for a nonzero square, −1 otherwise.
    private static int[] QuadraticCharacter(int q)
    {
        var chi = new int[q];
        Array.Fill(chi, -1);
        chi[0] = 0;
        for (long x = 1; x < q; x++) chi[x * x % q] = 1;
        return chi;
    }

    // Paley I (q ≡ 3 mod 4): H = I + S with the skew matrix S = [[0, 1ᵀ], [−1, Q]], Q[i, j] = χ(j − i).
    private static sbyte[] PaleyI(int q)
    {
        int n = q + 1;
        var chi = QuadraticCharacter(q);
        var h = new sbyte[n * n];
        for (int j = 1; j < n; j++) { h[j] = 1; h[j * n] = -1; }
        for (int i = 0; i < q; i++)
            for (int j = 0; j < q; j++)
                h[(i + 1) * n + j + 1] = (sbyte)chi[((j - i) % q + q) % q];
        for (int i = 0; i < n; i++) h[i * n + i] += 1;
        return h;
    }

    // Paley II (q ≡ 1 mod 4): C = [[0, 1ᵀ], [1, Q]] (symmetric); each 0 becomes [[1, −1], [−1, −1]] and each ±1
    // becomes ±[[1, 1], [1, −1]].
    private static sbyte[] PaleyII(int q)
    {
        int c = q + 1, n = 2 * c;
        var chi = QuadraticCharacter(q);
        int C(int i, int j) => i == 0 && j == 0 ? 0 : i == 0 || j == 0 ? 1 : chi[((j - i) % q + q) % q];
        var h = new sbyte[n * n];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
            {
                int v = C(i, j);
                ReadOnlySpan<int> block = v == 0 ? [1, -1, -1, -1] : [v, v, v, -v];
                h[2 * i * n + 2 * j] = (sbyte)block[0];
                h[2 * i * n + 2 * j + 1] = (sbyte)block[1];
                h[(2 * i + 1) * n + 2 * j] = (sbyte)block[2];
                h[(2 * i + 1) * n + 2 * j + 1] = (sbyte)block[3];
            }
        return h;
    }
}
