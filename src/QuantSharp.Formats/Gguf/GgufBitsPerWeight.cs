// Size of a GGUF file in bits per weight: over its 2-D weight matrices, over all its tensors, and over the whole file.
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// The byte and element counts behind a quantized file's "bits per weight". Three figures are
/// useful and are easily confused: <see cref="Matrices"/> (what the quantization type controls:
/// the 2-D weights, token embedding included), <see cref="Tensors"/> (llama.cpp's "BPW" line when
/// it loads a model: every tensor's data, 1-D norms in F32 included) and <see cref="File"/> (what
/// the download costs: the whole file, metadata such as the tokenizer vocabulary and alignment
/// padding included, over every parameter).
/// </summary>
/// <param name="FileBytes">Length of the file in bytes.</param>
/// <param name="TensorBytes">Data bytes of all tensors.</param>
/// <param name="Parameters">Elements of all tensors.</param>
/// <param name="MatrixBytes">Data bytes of the tensors with two or more dimensions.</param>
/// <param name="MatrixElements">Elements of the tensors with two or more dimensions.</param>
public sealed record GgufBitsPerWeight(long FileBytes, long TensorBytes, long Parameters, long MatrixBytes, long MatrixElements)
{
    /// <summary>8 × <see cref="MatrixBytes"/> / <see cref="MatrixElements"/>: bits per weight of the 2-D weights.</summary>
    public double Matrices => 8.0 * MatrixBytes / MatrixElements;

    /// <summary>8 × <see cref="TensorBytes"/> / <see cref="Parameters"/>: bits per weight of all tensor data (llama.cpp's BPW).</summary>
    public double Tensors => 8.0 * TensorBytes / Parameters;

    /// <summary>8 × <see cref="FileBytes"/> / <see cref="Parameters"/>: bits per weight of the whole file.</summary>
    public double File => 8.0 * FileBytes / Parameters;

    /// <summary>Counts over <paramref name="tensors"/> of a file of <paramref name="fileBytes"/> bytes.</summary>
    /// <exception cref="InvalidDataException">No tensor has a 2-D shape (bits per weight of the matrices would be undefined).</exception>
    public static GgufBitsPerWeight Of(IEnumerable<GgufTensorInfo> tensors, long fileBytes, string origin = "GGUF file")
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfNegative(fileBytes);
        long tensorBytes = 0, parameters = 0, matrixBytes = 0, matrixElements = 0;
        foreach (var t in tensors)
        {
            long n = t.ElementCount;
            tensorBytes += t.ByteSize;
            parameters += n;
            if (t.Dimensions.Length >= 2)
            {
                matrixBytes += t.ByteSize;
                matrixElements += n;
            }
        }
        if (matrixElements == 0)
            throw new InvalidDataException($"{origin}: no tensor with two or more dimensions, so it has no weight matrices to measure bits per weight of");
        return new GgufBitsPerWeight(fileBytes, tensorBytes, parameters, matrixBytes, matrixElements);
    }

    /// <summary>Counts of an open GGUF file.</summary>
    public static GgufBitsPerWeight Of(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Of(file.Tensors, file.FileLength, file.Origin);
    }

    /// <summary>Counts of the GGUF file at <paramref name="path"/> (reads its header only).</summary>
    public static GgufBitsPerWeight Of(string path)
    {
        using var file = new GgufFile(path);
        return Of(file);
    }
}
