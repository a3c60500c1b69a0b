// Settings of one text generation: length, sampling, seed and stop conditions.
namespace QuantSharp;

/// <summary>How <see cref="QuantSharpModel.Generate(string, GenerationOptions?, CancellationToken)"/> continues a prompt (the same knobs as <c>quantsharp run</c>).</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (default 64, as <c>quantsharp run -n</c>); must be ≥ 0.</summary>
    public int MaxTokens { get; init; } = 64;

    /// <summary>Softmax temperature; 0 (the default) is greedy.</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the k most likely tokens; 0 (the default) keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling threshold in (0, 1]; 1 (the default) is off.</summary>
    public float TopP { get; init; } = 1;

    /// <summary>Seed of the sampler: the same seed, prompt and settings give the same tokens.</summary>
    public int Seed { get; init; }

    /// <summary>Stop at the model's end-of-sequence token (default true).</summary>
    public bool StopAtEndOfSequence { get; init; } = true;

    /// <summary>Stop once the generated text contains one of these strings (the text is cut before it).</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>
    /// Element type of the session's KV cache: <see cref="Models.KvCacheType.F32"/> (the default, exact) or
    /// <see cref="Models.KvCacheType.F16"/> (llama.cpp's default; half the cache memory), as <c>quantsharp run --kv-cache</c>.
    /// </summary>
    public Models.KvCacheType KvCache { get; init; } = Models.KvCacheType.F32;
}
