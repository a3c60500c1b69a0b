// Settings of an importance-matrix collection run (llama-imatrix's -c, --chunks, --process-output, -f).
namespace QuantSharp.Quantization.Calibration;

/// <summary>How <see cref="ImatrixCalibration"/> chunks the text and what it records.</summary>
public sealed record ImatrixOptions
{
    /// <summary>Tokens per chunk (llama-imatrix -c, default 512); at least <see cref="ActivationSquareSums.MinimumRows"/>, since shorter batches are ignored.</summary>
    public int ContextLength
    {
        get;
        init => field = value >= ActivationSquareSums.MinimumRows ? value
            : throw new ArgumentOutOfRangeException(nameof(ContextLength), value, $"the context must be at least {ActivationSquareSums.MinimumRows} tokens: llama-imatrix ignores batches of fewer");
    } = 512;

    /// <summary>Evaluate at most this many chunks (null: all that fit).</summary>
    public int? MaxChunks
    {
        get;
        init => field = value is null or >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxChunks), value, "the chunk count must be at least 1");
    }

    /// <summary>Also collect output.weight (untied classifiers only, like llama-imatrix).</summary>
    public bool ProcessOutput { get; init; }

    /// <summary>Data set names recorded in the file (llama-imatrix records the -f path as given).</summary>
    public IReadOnlyList<string> Datasets { get; init; } = [];
}
