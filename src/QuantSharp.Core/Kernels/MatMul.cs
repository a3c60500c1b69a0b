// Entry point of the dense matrix products used by the forward pass: C = A · Wᵀ.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Dense products for linear layers. Weights are [N, K] row-major (PyTorch's Linear layout), in
/// F32, F16 or BF16; activations and results are fp32, row-major: C[M, N] = A[M, K] · W[N, K]ᵀ.
/// </summary>
public static class MatMul
{
    /// <summary>C[m, n] = Σ_k A[m, k] · W[n, k]. Multi-threaded; M = 1 takes the GEMV path.</summary>
    public static void Multiply(ReadOnlySpan<float> a, int m, TensorView w, Span<float> c)
    {
        int n = checked((int)w.Rows), k = checked((int)w.Columns);
        if (a.Length < m * k) throw new ArgumentException($"A has {a.Length} elements, needs {m}×{k}");
        if (c.Length < m * n) throw new ArgumentException($"C has {c.Length} elements, needs {m}×{n}");
        // Placeholder reference implementation; replaced by the blocked SIMD kernels.
        var row = new float[k];
        for (int j = 0; j < n; j++)
        {
            FloatConversion.ToFloat32(w.DType, w.RowBytes(j), row);
            for (int i = 0; i < m; i++)
            {
                var ai = a.Slice(i * k, k);
                float s = 0;
                for (int t = 0; t < k; t++) s += ai[t] * row[t];
                c[i * n + j] = s;
            }
        }
    }
}
