// How llama-quantize uses an importance matrix: which entry a tensor gets, and when one is missing, wrong or required.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// llama_model_quantize's rules for an importance matrix (per-column weights keyed by GGUF tensor
/// name, as the imatrix tool writes them): the entry is handed unchanged to the block quantizer of
/// every tensor that is quantized; a tensor without an entry is quantized without one; an entry whose
/// length is not the row length is an error, except for token_embd.weight whose entry is ignored;
/// a non-finite value anywhere is an error; and the Q2_K tensors of a Q2_K_S file cannot be quantized
/// without an entry.
/// </summary>
public static class TensorImportance
{
    /// <summary>Rejects non-finite values (llama.cpp checks the whole matrix before it quantizes anything).</summary>
    /// <exception cref="InvalidDataException">An entry is null or holds NaN/Inf.</exception>
    public static void Validate(IReadOnlyDictionary<string, float[]> importance)
    {
        ArgumentNullException.ThrowIfNull(importance);
        foreach (var (name, values) in importance)
        {
            if (values is null) throw new InvalidDataException($"importance matrix entry for {name} is null");
            for (int i = 0; i < values.Length; i++)
                if (!float.IsFinite(values[i]))
                    throw new InvalidDataException($"importance matrix entry for {name} holds a non-finite value ({values[i]}) at column {i}");
        }
    }

    /// <summary>
    /// Whether llama.cpp refuses to quantize <paramref name="tensorName"/> to <paramref name="type"/>
    /// without importance data in a <paramref name="fileType"/> file: Q2_K tensors of Q2_K_S (other
    /// than the token embedding and the output).
    /// </summary>
    public static bool IsRequired(string tensorName, GgmlType type, LlamaCppFileType fileType) =>
        type == GgmlType.Q2_K && fileType == LlamaCppFileType.Q2_K_S
        && tensorName is not ("token_embd.weight" or "output.weight");

    /// <summary>
    /// The importance weights for one tensor (empty: quantize without), following llama-quantize. A stacked
    /// expert tensor's entry holds one slice of <paramref name="rowLength"/> values per expert (llama-imatrix's
    /// per-expert sums); <paramref name="matrix"/> picks the expert's slice, as llama_model_quantize does.
    /// </summary>
    /// <param name="importance">The matrix, or null when none was given.</param>
    /// <param name="tensorName">GGUF tensor name.</param>
    /// <param name="type">The type the tensor is quantized to.</param>
    /// <param name="rowLength">Values per row of the tensor.</param>
    /// <param name="fileType">The file's mix (for the Q2_K_S requirement).</param>
    /// <param name="matrices">Matrices the tensor stacks (experts; 1 for a 2-D weight).</param>
    /// <param name="matrix">The matrix being quantized.</param>
    /// <exception cref="InvalidDataException">The entry's length is not <paramref name="rowLength"/> × <paramref name="matrices"/>.</exception>
    /// <exception cref="InvalidOperationException">The tensor needs an entry and has none.</exception>
    public static ReadOnlyMemory<float> For(IReadOnlyDictionary<string, float[]>? importance, string tensorName, GgmlType type, int rowLength,
        LlamaCppFileType fileType, int matrices = 1, int matrix = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(matrix);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(matrix, matrices);
        float[]? entry = null;
        if (importance != null && importance.TryGetValue(tensorName, out var values))
        {
            if (values.Length == (long)rowLength * matrices) entry = values;
            // llama.cpp tolerates a wrong-sized token_embd entry (old imatrix files carry one) and quantizes without it.
            else if (tensorName != "token_embd.weight")
                throw new InvalidDataException(
                    $"importance matrix entry for {tensorName} has {values.Length} values but the tensor has {matrices} matri{(matrices == 1 ? "x" : "ces")} of rows of {rowLength} (one weight per column{(matrices == 1 ? "" : " and expert")}); was the imatrix computed for a different model?");
        }
        if (entry is null && IsRequired(tensorName, type, fileType))
            throw new InvalidOperationException(importance is null
                ? $"{fileType} needs an importance matrix: {tensorName} is quantized to {type}, which llama.cpp refuses to do without one (pass --imatrix)"
                : $"the importance matrix has no entry for {tensorName}, which {fileType} quantizes to {type}; llama.cpp refuses to do that without one");
        return entry is null ? ReadOnlyMemory<float>.Empty : entry.AsMemory(matrix * rowLength, rowLength);
    }
}
