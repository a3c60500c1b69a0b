// Hadamard constructions (Sylvester, Paley I/II, Kronecker) are exact; the fast transform and the rotation equal the explicit products.
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Tests.Transforms;

public sealed class HadamardMatrixTests
{
    public static TheoryData<int> Orders() => new()
    {
        1, 2, 4, 8, 16, 64, 256, // Sylvester
        12, 20, 24, 32, 44, 48, 60, 68, 72, 80, 84, // Paley I (q ≡ 3 mod 4) and their doublings
        28, 36, 76, 108, // Paley II (q ≡ 1 mod 4)
        40, 56, 96, 144, 192, 288, 576, // Kronecker products m·2^k
    };

    [Theory]
    [MemberData(nameof(Orders))]
    public void EveryConstructionSatisfiesHHtEqualsNIInIntegers(int n)
    {
        var h = HadamardMatrix.Build(n);
        Assert.True(HadamardMatrix.IsHadamard(h, n), $"order {n}");
        Assert.All(h, v => Assert.True(v is 1 or -1));
    }

    [Fact]
    public void TheIntegerCheckRejectsANonHadamardMatrix()
    {
        var h = HadamardMatrix.Build(12);
        h[5] = (sbyte)-h[5];
        Assert.False(HadamardMatrix.IsHadamard(h, 12));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(52)] // 4·13 and 52 = 51 + 1, 2·(25 + 1): prime powers and other orders are not constructed here
    [InlineData(100)]
    public void OrdersWithoutAConstructionAreRefusedByOrder(int n)
    {
        Assert.Null(HadamardMatrix.Factor(n));
        var e = Assert.Throws<NotSupportedException>(() => HadamardMatrix.Build(n));
        Assert.Contains($"order {n}", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(16)]
    [InlineData(512)]
    public void FastWalshHadamardTransformEqualsTheExplicitProduct(int n)
    {
        var h = HadamardMatrix.Sylvester(n);
        var rng = new Random(n);
        var x = Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var expected = new double[n];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) expected[j] += x[i] * h[i * n + j];
        HadamardMatrix.TransformInPlace(x);
        for (int j = 0; j < n; j++) Assert.Equal(expected[j], x[j], 1e-12);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(12)]
    [InlineData(96)]
    [InlineData(576)]
    public void PlainRotationIsTheNormalizedHadamardMatrix(int n)
    {
        var h = HadamardMatrix.Build(n);
        var q = OrthogonalRotation.Create(n, seed: 0, randomSigns: false).ToMatrix();
        double s = 1 / Math.Sqrt(n);
        for (int i = 0; i < n * n; i++) Assert.Equal(h[i] * s, q[i], 1e-12);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(12 * 16)]
    [InlineData(10)] // fallback: random orthogonal
    [InlineData(26)]
    public void RandomizedRotationsAreOrthogonalAndSeeded(int n)
    {
        var r = OrthogonalRotation.Create(n, seed: 7);
        Assert.Equal(HadamardMatrix.IsConstructible(n), r.IsHadamard);
        if (!r.IsHadamard) Assert.Contains("random orthogonal", r.Description);
        var q = r.ToMatrix();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int k = 0; k < n; k++) dot += q[i * n + k] * q[j * n + k];
                Assert.True(Math.Abs(dot - (i == j ? 1 : 0)) < 1e-12, $"order {n}: (Q·Qᵀ)[{i}, {j}] = {dot}");
            }
        Assert.Equal(q, OrthogonalRotation.Create(n, seed: 7).ToMatrix());
        Assert.NotEqual(q, OrthogonalRotation.Create(n, seed: 8).ToMatrix());
    }
}
