// A named, mutable fp32 matrix [rows, cols] in a plain array: the working copy a weight transform edits.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// A row-major fp32 matrix that a transform (norm folding, rotation) changes in place. Weights are copied
/// out of their (memory-mapped, possibly F16/BF16) file once, transformed, and written out again.
/// </summary>
/// <param name="Name">The tensor's name, for messages.</param>
/// <param name="Values">rows·cols values, row-major.</param>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
public sealed record FloatMatrix(string Name, float[] Values, int Rows, int Cols)
{
    /// <summary>An fp32 copy of a 2-D tensor view (any float dtype).</summary>
    public static FloatMatrix From(TensorView view)
    {
        if (view.Shape.Length != 2) throw new ArgumentException($"tensor '{view.Name}' has shape [{string.Join(", ", view.Shape)}], expected a matrix", nameof(view));
        return new FloatMatrix(view.Name, view.ToFloat32(), checked((int)view.Shape[0]), checked((int)view.Shape[1]));
    }

    /// <summary>Row <paramref name="r"/>.</summary>
    public Span<float> Row(int r) => Values.AsSpan(r * Cols, Cols);
}
