// Where one tensor of a GGUF file lives and what it holds.
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// A tensor as described by a GGUF file's tensor-info table, after validation.
/// </summary>
/// <param name="Name">Tensor name (e.g. "blk.0.attn_q.weight").</param>
/// <param name="Type">Storage type.</param>
/// <param name="Dimensions">GGUF "ne": innermost dimension first (ne[0] is the row length).</param>
/// <param name="FileOffset">Absolute offset of the first data byte in the file.</param>
/// <param name="ByteSize">Number of data bytes.</param>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Dimensions, long FileOffset, long ByteSize)
{
    /// <summary>The shape outermost-first, as PyTorch and <see cref="Core.Tensors.TensorView"/> order it (reversed <see cref="Dimensions"/>).</summary>
    public long[] Shape => Dimensions.Reverse().ToArray();

    /// <summary>Total number of elements.</summary>
    public long ElementCount => Dimensions.Aggregate(1L, (a, d) => a * d);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Type}[{string.Join(", ", Shape)}] @{FileOffset}";
}
