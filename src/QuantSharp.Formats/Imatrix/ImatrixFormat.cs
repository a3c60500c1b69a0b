// The two on-disk layouts of llama.cpp importance matrices.
namespace QuantSharp.Formats.Imatrix;

/// <summary>Which file layout an importance matrix is stored in.</summary>
public enum ImatrixFormat
{
    /// <summary>GGUF with general.type = "imatrix" and "&lt;weight&gt;.in_sum2" / "&lt;weight&gt;.counts" tensors (llama-imatrix's default).</summary>
    Gguf,
    /// <summary>The older binary .dat layout (llama-imatrix --output-format dat).</summary>
    Legacy,
}
