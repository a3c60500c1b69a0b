// Placeholder (superseded by the kernels branch): small vector operations.
using System.Numerics.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>Vector operations used by the forward pass.</summary>
public static class VectorOps
{
    /// <summary>Dot product.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    /// <summary>In-place softmax.</summary>
    public static void Softmax(Span<float> x) => TensorPrimitives.SoftMax(x, x);

    /// <summary>y += a·x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.MultiplyAdd(x, a, y, y);
}
