// The contract every GGUF block format implements: quantize a row of floats, dequantize it back.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// A ggml block-quantized type. Rows are whole numbers of blocks; bytes are laid out exactly as in
/// ggml-common.h, so files we write load in llama.cpp and files it writes load here.
/// </summary>
public interface IBlockFormat
{
    /// <summary>The type.</summary>
    DType Type { get; }

    /// <summary>Weights per block.</summary>
    int BlockSize { get; }

    /// <summary>Bytes per block.</summary>
    int BlockBytes { get; }

    /// <summary>
    /// Quantizes one row (length a multiple of <see cref="BlockSize"/>) into
    /// <paramref name="destination"/> (row length / BlockSize × BlockBytes bytes). With an empty
    /// <paramref name="importance"/> this is llama.cpp's reference quantizer (quantize_row_*_ref,
    /// what llama-quantize uses without an imatrix); with per-column importance weights (one per
    /// value of the row, from an imatrix) it is llama.cpp's imatrix-weighted search.
    /// </summary>
    void QuantizeRow(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance = default);

    /// <summary>Dequantizes one row: exactly ggml's dequantize_row_*.</summary>
    void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination);
}
