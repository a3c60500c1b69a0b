// One linear layer quantized by GPTQ onto a GGUF block format: the ggml bytes and the weights they stand for.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Gptq;

/// <summary>A weight [Rows × Cols] as ggml blocks (row-major, as BlockQuantizer.QuantizeRows writes them).</summary>
public sealed class GptqBlockResult
{
    /// <summary>The block type.</summary>
    public required DType Type { get; init; }

    /// <summary>Output features.</summary>
    public required int Rows { get; init; }

    /// <summary>Input features (a multiple of the type's block size).</summary>
    public required int Cols { get; init; }

    /// <summary>Rows × (Cols / block size) blocks of ggml bytes.</summary>
    public required byte[] Data { get; init; }

    /// <summary>[Rows·Cols] what <see cref="Data"/> dequantizes to (BlockDequantizer).</summary>
    public required float[] Dequantized { get; init; }

    /// <summary>Wall time GPTQ spent preparing and factorising H (dampening, Cholesky, triangular inverse).</summary>
    public TimeSpan FactorTime { get; init; }

    /// <summary>Wall time of GPTQ's column sweep (block scale searches, rounding, error feedback, lazy block updates).</summary>
    public TimeSpan SweepTime { get; init; }
}
