// The rotation of a layer-streaming run: embedding, head and final norm rotated up front into a mapped temporary file, each decoder layer as the run reads it.
using QuantSharp.Core.IO;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// A rotation (docs/rotations.md) that never holds the rotated model in memory. The model-level tensors — the
/// embedding (needed first, for the calibration inputs and as the file's first tensor), the head and the final norm
/// (written last) — are rotated up front, a block of rows at a time, into a temporary file mapped into memory (page
/// cache the OS can write back and drop, as it drops the mapped model's pages; never anonymous memory beyond one block).
/// Each decoder layer is folded and rotated by <see cref="LayerTransform"/>, the first transform of a
/// <see cref="LayerStreamingQuantizer"/> run, when the run reads the layer, and dropped with it. The steps are those of
/// <see cref="ModelRotation.Rotate"/> (<see cref="ModelLevelRotation"/>, <see cref="LayerRotation.Apply"/>), so the
/// tensors and the outputs are bit for bit those of a run on the whole rotated model.
/// </summary>
public sealed class LayerwiseRotation : IDisposable
{
    /// <summary>Rows rotated at once: about this many bytes of fp32 (the only anonymous memory the model-level rotation takes).</summary>
    private const int BlockBytes = 4 << 20;

    private readonly ModelLevelRotation _top;
    private readonly LlamaModel _source;
    private readonly TemporaryMappedFile _file;
    private readonly Dictionary<string, TensorView> _tensors = new(StringComparer.Ordinal);

    private unsafe LayerwiseRotation(LlamaModel source, ModelLevelRotation top, string? temporaryDirectory, CancellationToken ct)
    {
        _source = source;
        _top = top;
        var names = top.Parameters.Architecture.HfNaming;
        int rows = top.Rows, dim = top.Parameters.Dim;
        long matrix = (long)rows * dim * sizeof(float);
        _file = new TemporaryMappedFile(temporaryDirectory, "quantsharp-rotated-", top.Bytes);
        try
        {
            byte* at = _file.Base;
            TensorView Matrix(string name, Action<int, Span<float>> rotate)
            {
                var view = new TensorView(name, DType.F32, [rows, dim], at, matrix);
                float* p = (float*)at;
                int block = Math.Clamp(BlockBytes / (dim * sizeof(float)), 1, rows);
                for (int r = 0; r < rows; r += block)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = Math.Min(block, rows - r);
                    rotate(r, new Span<float>(p + (long)r * dim, n * dim));
                }
                at += matrix;
                return view;
            }
            _tensors[names.TokenEmbedding] = Matrix(names.TokenEmbedding, top.RotateEmbedding);
            if (top.HasOutput) _tensors[names.Output] = Matrix(names.Output, top.RotateOutput);
            top.OutputNorm().AsSpan().CopyTo(new Span<float>(at, dim));
            _tensors[names.OutputNorm] = new TensorView(names.OutputNorm, DType.F32, [dim], at, (long)dim * sizeof(float));
        }
        catch
        {
            _file.Dispose();
            throw;
        }
        LayerTransform = new RotationLayerTransform(this);
    }

    /// <summary>
    /// Checks that <paramref name="model"/> can be rotated (<see cref="ModelRotation.ThrowIfUnsupported"/>), draws the
    /// rotations and rotates its embedding, head and final norm into a temporary file in <paramref name="temporaryDirectory"/>
    /// (null: the system temp folder; unlinked at once on Unix). <paramref name="log"/> receives the rotations chosen and
    /// the head's fate. <paramref name="model"/> must stay open while the rotation is used: the layers are read from it.
    /// </summary>
    public static LayerwiseRotation Prepare(LlamaModel model, RotationOptions options, Action<string>? log = null, string? temporaryDirectory = null,
        CancellationToken cancellationToken = default)
    {
        ModelRotation.ThrowIfUnsupported(model);
        return new LayerwiseRotation(model, ModelLevelRotation.Create(model, options, log), temporaryDirectory, cancellationToken);
    }

    /// <summary>The rotated model's hyperparameters (<see cref="LlamaHyperParameters.TiedEmbeddings"/> false when the head was untied).</summary>
    public LlamaHyperParameters Parameters => _top.Parameters;

    /// <summary>The rotation's settings, which the opened model carries (<see cref="LlamaModel.Rotation"/>) into every output.</summary>
    public RotationRecord Record => _top.Record;

    /// <summary>What was chosen, one line each (rotations, tied or untied head).</summary>
    public IReadOnlyList<string> Notes => _top.Notes;

    /// <summary>Bytes of the rotated embedding, head and final norm (fp32) in the mapped temporary file.</summary>
    public long MappedBytes => _top.Bytes;

    /// <summary>
    /// Folds the norms of one decoder layer and applies R1 (and R2) to it (<see cref="LayerRotation.Apply"/>); the first
    /// transform of the run over <see cref="Open"/>'s model, and only of that run.
    /// </summary>
    public ILayerTransform LayerTransform { get; }

    /// <summary>
    /// The model a layer-streaming run quantizes: the rotated embedding, head and final norm, <see cref="Parameters"/>, and
    /// the source's decoder layers as they are in the file — <see cref="LayerTransform"/>, which the run must apply first
    /// (<see cref="LayerStreamingQuantizer"/> checks), rotates each. Not a model to run otherwise: its layers alone do not
    /// compute the rotated function. Does not own the weights (dispose this object and the source after it).
    /// </summary>
    /// <param name="tokenizer">The source model's tokenizer (the rotation does not change it).</param>
    /// <param name="origin">The <see cref="LlamaModel.Origin"/> it reports; null: the source's. Exporters read the files
    /// beside the weights (config.json, tokenizer files) from it.</param>
    public LlamaModel Open(ITextTokenizer? tokenizer, string? origin = null) =>
        new(new LayerPendingWeights(this, origin ?? _source.Origin), Parameters, Parameters.Architecture.HfNaming, tokenizer, "hf-safetensors")
        { Rotation = _top.Record };

    /// <summary>
    /// The transform a run over <paramref name="model"/> must apply first: <see cref="LayerTransform"/> when the model is
    /// one that <see cref="Open"/> returned (its layers are not rotated yet), else null.
    /// </summary>
    public static ILayerTransform? PendingLayerTransform(LlamaModel model) =>
        model.Source is LayerPendingWeights w ? w.Owner.LayerTransform : null;

    internal bool Opened(LlamaModel model) => model.Source is LayerPendingWeights w && w.Owner == this;

    /// <summary>
    /// Rotates the first <paramref name="count"/> rows of <paramref name="rows"/> (vectors of the residual stream, hidden size
    /// each) by R1 in place: the source model's normalised final hidden states become the rotated classifier's inputs.
    /// </summary>
    public void RotateResidualRows(float[] rows, int count)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int dim = _top.Parameters.Dim;
        if (count < 0 || (long)count * dim > rows.Length) throw new ArgumentOutOfRangeException(nameof(count), count, $"{rows.Length} values hold fewer than {count} rows of {dim}");
        var m = new FloatMatrix("residual rows", count * dim == rows.Length ? rows : rows[..(count * dim)], count, dim);
        MatrixRotation.RotateRows(m, _top.Residual, _top.Threads);
        if (!ReferenceEquals(m.Values, rows)) m.Values.CopyTo(rows, 0);
    }

    internal void RotateLayer(DecoderLayerTensors layer) => LayerRotation.Apply(layer, _top.Residual, _top.ValueHead, _top.Threads);

    /// <summary>Unmaps and removes the temporary file (the opened model's views become invalid).</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>The source's tensors with the rotated model-level ones in place of (or, for an untied head, beside) its own.</summary>
    private sealed class LayerPendingWeights(LayerwiseRotation owner, string origin) : IWeightSource
    {
        private readonly IWeightSource _inner = owner._source.Source;
        private readonly IReadOnlyList<string> _names =
            [.. owner._source.Source.TensorNames, .. owner._tensors.Keys.Where(n => !owner._source.Source.Contains(n))];

        public LayerwiseRotation Owner => owner;
        public string Origin => origin;
        public IReadOnlyList<string> TensorNames => _names;
        public bool Contains(string name) => owner._tensors.ContainsKey(name) || _inner.Contains(name);
        public TensorView Get(string name) => owner._tensors.TryGetValue(name, out var t) ? t : _inner.Get(name);
        public void ThrowIfChanged() => _inner.ThrowIfChanged();
        public void Dispose() { }
    }
}
