// Reorders query/key projection rows between Hugging Face's rotate_half RoPE and GGUF's interleaved RoPE.
namespace QuantSharp.Models.Conversion;

/// <summary>
/// Hugging Face Llama checkpoints pair dimension i with i + d/2 inside each head; GGUF (llama.cpp's
/// "llama" arch), llama2.c and Meta's checkpoints pair 2i with 2i+1. Converting permutes the output
/// rows of q_proj and k_proj per head: GGUF row 2i+h ← HF row h·d/2 + i (h ∈ {0, 1}). This is the
/// same reordering llama.cpp's converter applies.
/// </summary>
public static class RopePermutation
{
    /// <summary>Source row (HF order) for destination row <paramref name="row"/> (GGUF order).</summary>
    public static int SourceRow(int row, int headDim)
    {
        int head = row / headDim, r = row % headDim;
        int i = r / 2, half = r % 2;
        return head * headDim + half * (headDim / 2) + i;
    }

    /// <summary>Reorders the rows of a [rows, cols] matrix of any element size from HF to GGUF order.</summary>
    public static void HfToInterleaved(ReadOnlySpan<byte> source, Span<byte> destination, int rows, int rowBytes, int headDim)
    {
        if (rows % headDim != 0) throw new ArgumentException($"{rows} rows is not a whole number of heads of {headDim}");
        if (source.Length != (long)rows * rowBytes || destination.Length != source.Length) throw new ArgumentException("buffer sizes do not match rows × rowBytes");
        for (int r = 0; r < rows; r++)
            source.Slice(SourceRow(r, headDim) * rowBytes, rowBytes).CopyTo(destination.Slice(r * rowBytes, rowBytes));
    }
}
