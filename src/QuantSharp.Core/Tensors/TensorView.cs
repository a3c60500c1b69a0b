// A typed, shaped window onto bytes owned by someone else (a memory-mapped file or a pinned array).
namespace QuantSharp.Core.Tensors;

/// <summary>
/// A read-only view of a dense tensor's bytes. The memory is owned elsewhere (usually a
/// memory-mapped model file) and must outlive the view. Shape is outermost-first, as in PyTorch:
/// a linear layer's weight is [out_features, in_features] with rows contiguous.
/// </summary>
public readonly unsafe struct TensorView
{
    /// <summary>Creates a view; the caller guarantees <paramref name="pointer"/> covers <paramref name="byteLength"/> bytes.</summary>
    public TensorView(string name, DType dtype, long[] shape, byte* pointer, long byteLength)
    {
        long elements = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': negative dimension in shape [{string.Join(", ", shape)}]");
            elements = checked(elements * d);
        }
        long columns = shape.Length == 0 ? 1 : shape[^1];
        long rows = columns == 0 ? 0 : elements / columns;
        long needed = checked(rows * DTypeInfo.RowBytes(dtype, columns));
        if (needed != byteLength)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {needed} bytes, got {byteLength}");
        Name = name; DType = dtype; Shape = shape; Pointer = pointer; ByteLength = byteLength; ElementCount = elements;
    }

    /// <summary>
    /// A view of the same bytes that the AVX-512 decode kernels may read from a quad-interleaved copy
    /// (one sequential stream per four rows, llama.cpp's "repack" idea), built on the first product
    /// that can use it and kept for as long as any copy of the returned view lives: it costs the
    /// matrix's size in memory once used, nothing before. Results are bit-identical either way.
    /// Types without an interleaved kernel, and other ISAs, read the original bytes.
    /// <paramref name="releaseFilePages"/>: the bytes are a read-only file mapping (a GGUF), whose pages are handed
    /// back once the copy exists, so the weights are held once (<see cref="Kernels.Quantized.InterleavedWeights"/>);
    /// never for memory the process owns.
    /// </summary>
    public TensorView WithInterleavedCopy(bool releaseFilePages = false)
        => Kernels.Quantized.QuantizedMatMul.HasInterleavedKernel(DType)
            ? this with { Interleaved = new Kernels.Quantized.InterleavedWeights(releaseFilePages) }
            : this;

    /// <summary>The interleaved copy's holder when <see cref="WithInterleavedCopy"/> made this view; else null.</summary>
    public Kernels.Quantized.InterleavedWeights? Interleaved { get; private init; }

    /// <summary>Tensor name as stored in the file.</summary>
    public string Name { get; }
    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>Dimensions, outermost first.</summary>
    public long[] Shape { get; }
    /// <summary>Address of the first byte.</summary>
    public byte* Pointer { get; }
    /// <summary>Total bytes.</summary>
    public long ByteLength { get; }
    /// <summary>Total elements.</summary>
    public long ElementCount { get; }

    /// <summary>Number of rows when viewed as a matrix [rows, lastDim].</summary>
    public long Rows => Shape.Length == 0 ? 1 : ElementCount / Math.Max(1, Shape[^1]);
    /// <summary>Length of the innermost dimension.</summary>
    public long Columns => Shape.Length == 0 ? 1 : Shape[^1];

    /// <summary>Bytes of one row (whole blocks for block-quantized types).</summary>
    public long RowByteLength => DTypeInfo.RowBytes(DType, Columns);

    /// <summary>The bytes of the whole tensor (must be below 2 GiB).</summary>
    public ReadOnlySpan<byte> Bytes => new(Pointer, checked((int)ByteLength));

    /// <summary>The bytes of one row of the innermost dimension.</summary>
    public ReadOnlySpan<byte> RowBytes(long row)
    {
        long rowBytes = RowByteLength;
        if ((ulong)row >= (ulong)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        return new ReadOnlySpan<byte>(Pointer + row * rowBytes, checked((int)rowBytes));
    }

    /// <summary>
    /// Rows [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) of this matrix as a view of the
    /// same memory (rows are whole blocks in every type, so a block-quantized matrix splits without re-encoding).
    /// </summary>
    public TensorView RowRange(long first, long count, string name)
    {
        if (Shape.Length != 2) throw new InvalidOperationException($"tensor '{Name}': a row range needs a matrix, shape is [{string.Join(", ", Shape)}]");
        if (first < 0 || count < 0 || first + count > Rows) throw new ArgumentOutOfRangeException(nameof(first), $"tensor '{Name}': rows [{first}, {first + count}) are outside [0, {Rows})");
        long rowBytes = RowByteLength;
        return new TensorView(name, DType, [count, Columns], Pointer + first * rowBytes, count * rowBytes);
    }

    /// <summary>Converts the whole tensor to fp32 into <paramref name="destination"/>.</summary>
    public void ToFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"tensor '{Name}': destination has {destination.Length} elements, tensor has {ElementCount}");
        FloatConversion.ToFloat32(DType, Bytes, destination);
    }

    /// <summary>Converts the whole tensor to a new fp32 array.</summary>
    public float[] ToFloat32()
    {
        var r = new float[checked((int)ElementCount)];
        ToFloat32(r);
        return r;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType}[{string.Join(", ", Shape)}]";
}
