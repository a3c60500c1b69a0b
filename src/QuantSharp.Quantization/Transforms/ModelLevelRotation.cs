// The model-level half of a rotation: R1/R2 drawn from the options, and the embedding, final norm and head rotated.
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// What a rotation does outside the decoder layers, shared by the whole-model driver (<see cref="ModelRotation"/>) and
/// the layer-streaming one (<see cref="LayerwiseRotation"/>) so that both give the same bytes: the rotations R1 (order
/// hidden) and, unless turned off, R2 (order head_dim); the embedding E' = E·Q₁; the final norm's γ folded into the
/// head, W' = W·diag(γ)·Q₁, and the norm set to ones; whether the embeddings stay tied (only when γ is all ones).
/// The decoder layers are left to <see cref="LayerRotation.Apply"/> with <see cref="Residual"/> and <see cref="ValueHead"/>.
/// <para>Every row of the embedding and head is converted to fp32, scaled and rotated on its own, so the matrices can be
/// produced whole (<see cref="RotatedEmbedding()"/>) or a block of rows at a time into any memory
/// (<see cref="RotateEmbedding"/>) with the same bits.</para>
/// </summary>
public sealed class ModelLevelRotation
{
    private readonly TensorView _embedding, _output;
    private readonly float[] _finalNorm;
    private readonly string _embeddingName, _outputName;

    private ModelLevelRotation(LlamaModel model, OrthogonalRotation residual, OrthogonalRotation? valueHead, int threads,
        LlamaHyperParameters parameters, IReadOnlyList<string> notes, RotationRecord record)
    {
        Record = record;
        var names = parameters.Architecture.HfNaming;
        _embedding = model.TokenEmbedding;
        _output = model.Output;
        _finalNorm = (float[])model.OutputNorm.Clone();
        _embeddingName = names.TokenEmbedding;
        _outputName = names.Output;
        Residual = residual;
        ValueHead = valueHead;
        Threads = threads;
        Parameters = parameters;
        Notes = notes;
    }

    /// <summary>R1, the rotation of the residual stream (order hidden).</summary>
    public OrthogonalRotation Residual { get; }
    /// <summary>R2, the rotation of each value head (order head_dim); null when turned off.</summary>
    public OrthogonalRotation? ValueHead { get; }
    /// <summary>The options' worker threads, for the layers' rotations (the bytes do not depend on it).</summary>
    public int Threads { get; }
    /// <summary>The rotated model's hyperparameters (<see cref="LlamaHyperParameters.TiedEmbeddings"/> false when the head was untied).</summary>
    public LlamaHyperParameters Parameters { get; }
    /// <summary>What was chosen, one line each (R1, R2, tied or untied head), in the order they were logged.</summary>
    public IReadOnlyList<string> Notes { get; }
    /// <summary>The settings, as every output of the rotated model records them (<see cref="LlamaModel.Rotation"/>).</summary>
    public RotationRecord Record { get; }

    /// <summary>Whether the rotated model has a head of its own (false: tied, the head is the rotated embedding).</summary>
    public bool HasOutput => !Parameters.TiedEmbeddings;

    /// <summary>Rows of the embedding (and of the head): the vocabulary.</summary>
    public int Rows => Parameters.VocabSize;

    /// <summary>The final norm after folding: all ones (γ is in the head, or was all ones).</summary>
    public float[] OutputNorm() => Enumerable.Repeat(1f, Parameters.Dim).ToArray();

    /// <summary>Bytes of the rotated embedding, head and final norm in fp32.</summary>
    public long Bytes => sizeof(float) * ((long)Rows * Parameters.Dim * (HasOutput ? 2 : 1) + Parameters.Dim);

    /// <summary>
    /// Draws the rotations and decides the head's fate for <paramref name="model"/>, which must stay open while the
    /// matrices are produced. <paramref name="log"/> receives each note as it is decided. The caller checks the model
    /// first (<see cref="ModelRotation.ThrowIfUnsupported"/>).
    /// </summary>
    public static ModelLevelRotation Create(LlamaModel model, RotationOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var hp = model.Parameters;
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); log?.Invoke(s); }
        var r1 = OrthogonalRotation.Create(hp.Dim, options.Seed);
        var r2 = options.HeadRotation ? OrthogonalRotation.Create(hp.HeadDim, options.HeadSeed) : null;
        Note($"R1 (residual, order {hp.Dim}): {r1.Description}, seed {options.Seed}");
        Note(r2 is null ? "R2: off" : $"R2 (per value head, order {hp.HeadDim}): {r2.Description}, seed {options.HeadSeed}");
        bool keepTied = hp.TiedEmbeddings && model.OutputNorm.All(g => g == 1f);
        if (hp.TiedEmbeddings)
            Note(keepTied ? "embeddings stay tied (the final norm is all ones)"
                : "embeddings untied: the final norm's γ is not all ones, so the head E·diag(γ)·Q₁ differs from the embedding E·Q₁ and is written as lm_head");
        var record = new RotationRecord
        {
            Seed = options.Seed,
            Residual = r1.ToRecord(options.Seed),
            ValueHead = r2?.ToRecord(options.HeadSeed),
            NormsFolded = true,
            HeadUntied = hp.TiedEmbeddings && !keepTied,
        };
        return new ModelLevelRotation(model, r1, r2, options.Threads, hp with { TiedEmbeddings = keepTied }, notes, record);
    }

    /// <summary>The whole rotated embedding E·Q₁ in memory, under its Hugging Face name.</summary>
    public FloatMatrix RotatedEmbedding() => Whole(_embedding, _embeddingName, foldNorm: false);

    /// <summary>The whole rotated head W·diag(γ)·Q₁ in memory, under its Hugging Face name; null when tied.</summary>
    public FloatMatrix? RotatedOutput() => HasOutput ? Whole(_output, _outputName, foldNorm: true) : null;

    /// <summary>Rows [<paramref name="first"/>, first + rows of <paramref name="destination"/>) of the rotated embedding.</summary>
    public void RotateEmbedding(int first, Span<float> destination) => Block(_embedding, _embeddingName, foldNorm: false, first, destination);

    /// <summary>Rows [<paramref name="first"/>, first + rows of <paramref name="destination"/>) of the rotated head (untied only).</summary>
    public void RotateOutput(int first, Span<float> destination)
    {
        if (!HasOutput) throw new InvalidOperationException("the embeddings stay tied: the head is the rotated embedding");
        Block(_output, _outputName, foldNorm: true, first, destination);
    }

    private FloatMatrix Whole(TensorView source, string name, bool foldNorm)
    {
        var m = new FloatMatrix(name, new float[checked(Rows * Parameters.Dim)], Rows, Parameters.Dim);
        RotateRows(source, foldNorm, 0, m);
        return m;
    }

    private void Block(TensorView source, string name, bool foldNorm, int first, Span<float> destination)
    {
        int cols = Parameters.Dim;
        if (destination.Length % cols != 0 || first < 0 || first + destination.Length / cols > Rows)
            throw new ArgumentOutOfRangeException(nameof(destination), $"tensor '{name}': rows [{first}, {first + destination.Length / cols}) of {Rows} × {cols}");
        var m = new FloatMatrix(name, new float[destination.Length], destination.Length / cols, cols);
        RotateRows(source, foldNorm, first, m);
        m.Values.CopyTo(destination);
    }

    // Each row on its own: to fp32, times diag(γ) for the head (the final norm folded in), times Q₁.
    private void RotateRows(TensorView source, bool foldNorm, int first, FloatMatrix rows)
    {
        for (int r = 0; r < rows.Rows; r++) FloatConversion.ToFloat32(source.DType, source.RowBytes(first + r), rows.Row(r));
        if (foldNorm)
        {
            if (_finalNorm.Length != rows.Cols) throw new ArgumentException($"tensor '{rows.Name}' reads {rows.Cols} features but the final norm has {_finalNorm.Length}");
            RmsNormFolding.ScaleColumns(rows, _finalNorm);
        }
        MatrixRotation.RotateRows(rows, Residual, Threads);
    }
}
