// Folding an RMSNorm's γ into the linears that read its output, leaving the norm all ones.
using System.Numerics.Tensors;
using QuantSharp.Models.Architectures;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// RMSNorm(x)∘γ·Wᵀ = RMSNorm(x)·(W·diag(γ))ᵀ: scaling the columns of every linear that reads a norm's output by γ
/// and setting γ to ones keeps the function and leaves a norm that commutes with any orthogonal rotation of its
/// input (‖x·Q‖ = ‖x‖), which is what a residual rotation needs.
/// <para>Not every norm folds: Gemma's norms multiply by 1 + w (folding is still exact, but the stored w would become
/// 0 only by rewriting the convention) and its post-norms (attention and MLP outputs, before the residual add)
/// normalise a vector that is then added to the residual stream, so the stream itself is not rotation-equivariant
/// through them. Such architectures are refused by name (<see cref="ThrowIfUnsupported"/>).</para>
/// </summary>
public static class RmsNormFolding
{
    /// <summary>Throws <see cref="NotSupportedException"/> naming the architecture and the reason when its norms do not fold.</summary>
    public static void ThrowIfUnsupported(ModelArchitecture arch, string origin)
    {
        if (arch.PostNorms)
            throw new NotSupportedException($"{origin}: {arch.Name} has norms on the attention and MLP outputs (post-norms) before the residual add; they are not rotation-invariant, so rotations are not supported for {arch.Name}");
        if (arch.NormPlusOne)
            throw new NotSupportedException($"{origin}: {arch.Name} stores (1 + w) norms; folding them is not implemented, so rotations are not supported for {arch.Name}");
        if (arch.EmbeddingScaled)
            throw new NotSupportedException($"{origin}: {arch.Name} scales the embedding by √hidden; rotations are not implemented for it");
    }

    /// <summary>Scales the columns of each reader by <paramref name="gamma"/>, then sets <paramref name="gamma"/> to ones.</summary>
    public static void Fold(Span<float> gamma, IEnumerable<FloatMatrix> readers)
    {
        foreach (var w in readers)
        {
            if (w.Cols != gamma.Length)
                throw new ArgumentException($"tensor '{w.Name}' reads {w.Cols} features but the norm has {gamma.Length}");
            ScaleColumns(w, gamma);
        }
        gamma.Fill(1f);
    }

    /// <summary>W ← W·diag(<paramref name="scale"/>).</summary>
    public static void ScaleColumns(FloatMatrix w, ReadOnlySpan<float> scale)
    {
        for (int r = 0; r < w.Rows; r++) TensorPrimitives.Multiply(w.Row(r), scale, w.Row(r));
    }
}
