// The model-level half of a rotation: R1/R2 drawn from the options, and the embedding, final norm and head rotated.
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// What a rotation does outside the decoder layers, shared by the whole-model driver (<see cref="ModelRotation"/>) and
/// the layer-streaming one (<see cref="LayerwiseRotation"/>) so that both give the same bytes: the rotations R1 (order
/// hidden) and, unless turned off, R2 (order head_dim); the embedding E' = E·Q₁; the final norm's γ folded into the
/// head, W' = W·diag(γ)·Q₁, and the norm set to ones; whether the embeddings stay tied (only when γ is all ones).
/// The decoder layers are left to <see cref="LayerRotation.Apply"/> with <see cref="Residual"/> and <see cref="ValueHead"/>.
/// </summary>
public sealed class ModelLevelRotation
{
    private ModelLevelRotation(OrthogonalRotation residual, OrthogonalRotation? valueHead, int threads, FloatMatrix embedding,
        FloatMatrix? output, float[] outputNorm, LlamaHyperParameters parameters, IReadOnlyList<string> notes)
    {
        Residual = residual;
        ValueHead = valueHead;
        Threads = threads;
        Embedding = embedding;
        Output = output;
        OutputNorm = outputNorm;
        Parameters = parameters;
        Notes = notes;
    }

    /// <summary>R1, the rotation of the residual stream (order hidden).</summary>
    public OrthogonalRotation Residual { get; }
    /// <summary>R2, the rotation of each value head (order head_dim); null when turned off.</summary>
    public OrthogonalRotation? ValueHead { get; }
    /// <summary>The options' worker threads, for the layers' rotations (the bytes do not depend on it).</summary>
    public int Threads { get; }
    /// <summary>The rotated token embedding E·Q₁, under its Hugging Face name.</summary>
    public FloatMatrix Embedding { get; }
    /// <summary>The rotated head W·diag(γ)·Q₁ under its Hugging Face name; null when the embeddings stay tied.</summary>
    public FloatMatrix? Output { get; }
    /// <summary>The final norm after folding: all ones.</summary>
    public float[] OutputNorm { get; }
    /// <summary>The rotated model's hyperparameters (<see cref="LlamaHyperParameters.TiedEmbeddings"/> false when the head was untied).</summary>
    public LlamaHyperParameters Parameters { get; }
    /// <summary>What was chosen, one line each (R1, R2, tied or untied head), in the order they were logged.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Bytes of the rotated embedding, head and final norm (fp32).</summary>
    public long Bytes => sizeof(float) * (Embedding.Values.LongLength + (Output?.Values.LongLength ?? 0) + OutputNorm.LongLength);

    /// <summary>
    /// Draws the rotations and rotates <paramref name="model"/>'s embedding, head and final norm (fp32 copies; the model
    /// is not changed). <paramref name="log"/> receives each note as it is decided. The caller checks the model first
    /// (<see cref="ModelRotation.ThrowIfUnsupported"/>).
    /// </summary>
    public static ModelLevelRotation Create(LlamaModel model, RotationOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var hp = model.Parameters;
        var names = hp.Architecture.HfNaming;
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); log?.Invoke(s); }
        var r1 = OrthogonalRotation.Create(hp.Dim, options.Seed);
        var r2 = options.HeadRotation ? OrthogonalRotation.Create(hp.HeadDim, options.HeadSeed) : null;
        Note($"R1 (residual, order {hp.Dim}): {r1.Description}, seed {options.Seed}");
        Note(r2 is null ? "R2: off" : $"R2 (per value head, order {hp.HeadDim}): {r2.Description}, seed {options.HeadSeed}");

        var embedding = FloatMatrix.From(model.TokenEmbedding) with { Name = names.TokenEmbedding };
        // The head is copied before the embedding is rotated: tied models share the matrix.
        var finalNorm = (float[])model.OutputNorm.Clone();
        bool keepTied = hp.TiedEmbeddings && finalNorm.All(g => g == 1f);
        FloatMatrix? head = keepTied ? null : FloatMatrix.From(model.Output) with { Name = names.Output };
        MatrixRotation.RotateRows(embedding, r1, options.Threads);
        if (head is not null)
        {
            RmsNormFolding.Fold(finalNorm, [head]);
            MatrixRotation.RotateRows(head, r1, options.Threads);
        }
        if (hp.TiedEmbeddings)
            Note(keepTied ? "embeddings stay tied (the final norm is all ones)"
                : "embeddings untied: the final norm's γ is not all ones, so the head E·diag(γ)·Q₁ differs from the embedding E·Q₁ and is written as lm_head");
        return new ModelLevelRotation(r1, r2, options.Threads, embedding, head, finalNorm, hp with { TiedEmbeddings = keepTied }, notes);
    }
}
