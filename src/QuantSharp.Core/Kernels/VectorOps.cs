// Small vector operations of the forward pass (norms, activations, residuals), SIMD with fallbacks.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Element-wise and reduction helpers on fp32 spans. Where TensorPrimitives is already vectorised
/// (with its own scalar fallback) it is used directly; RmsNorm is hand-written because it needs
/// a double-precision sum to match llama.cpp.
/// </summary>
public static class VectorOps
{
    /// <summary>Chunk of the fused SiLU·up product kept on the stack (fits L1 comfortably).</summary>
    private const int SiluChunk = 256;

    /// <summary>
    /// dst = x / sqrt(mean(x²) + eps) ⊙ weight, computed as llama.cpp does: squares in fp32, summed
    /// in double, the scale in fp32, then x·scale and the weight multiply as two fp32 roundings.
    /// <paramref name="dst"/> may be <paramref name="x"/>.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> dst)
    {
        if (weight.Length != x.Length || dst.Length != x.Length)
            throw new ArgumentException($"RmsNorm: x has {x.Length} elements, weight {weight.Length}, dst {dst.Length}");
        if (x.Length == 0) return;
        double sum = SumOfSquaresDouble(x);
        float mean = (float)(sum / x.Length);
        float scale = 1.0f / MathF.Sqrt(mean + eps);
        TensorPrimitives.Multiply(x, scale, dst);
        TensorPrimitives.Multiply(dst, weight, dst);
    }

    /// <summary>Σ x[i]² with each square rounded to fp32 and the sum kept in double.</summary>
    internal static double SumOfSquaresDouble(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int i = 0, n = x.Length;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2 && n >= 8)
        {
            Vector256<double> acc0 = default, acc1 = default;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)i);
                var (lo, hi) = Vector256.Widen(v * v);
                acc0 += lo;
                acc1 += hi;
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        else if (Vector128.IsHardwareAccelerated && KernelOptions.EffectiveIsa != KernelIsa.Scalar && n >= 4)
        {
            Vector128<double> acc0 = default, acc1 = default;
            for (; i <= n - 4; i += 4)
            {
                var v = Vector128.LoadUnsafe(ref p, (nuint)i);
                var (lo, hi) = Vector128.Widen(v * v);
                acc0 += lo;
                acc1 += hi;
            }
            sum = Vector128.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref p, i);
            sum += v * v;
        }
        return sum;
    }

    /// <summary>In-place softmax: exp(x - max) / Σ exp(x - max). Stable for large logits.</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.Length == 0) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        float sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Multiply(x, 1.0f / sum, x);
    }

    /// <summary>
    /// dst = silu(gate) ⊙ up, silu(g) = g·σ(g). <paramref name="dst"/> may be
    /// <paramref name="gate"/> or <paramref name="up"/> (processed in chunks through a stack buffer).
    /// </summary>
    public static void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst)
    {
        if (up.Length != gate.Length || dst.Length != gate.Length)
            throw new ArgumentException($"SiluMul: gate has {gate.Length} elements, up {up.Length}, dst {dst.Length}");
        Span<float> tmp = stackalloc float[SiluChunk];
        for (int i = 0; i < gate.Length; i += SiluChunk)
        {
            int len = Math.Min(SiluChunk, gate.Length - i);
            var t = tmp[..len];
            var g = gate.Slice(i, len);
            TensorPrimitives.Sigmoid(g, t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.Multiply(t, up.Slice(i, len), dst.Slice(i, len));
        }
    }

    /// <summary>Σ x[i]·y[i].</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y) => TensorPrimitives.Dot(x, y);

    /// <summary>y += a·x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.MultiplyAdd(x, a, y, y);

    /// <summary>dst = x + y (dst may alias either input).</summary>
    public static void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> dst) => TensorPrimitives.Add(x, y, dst);
}
