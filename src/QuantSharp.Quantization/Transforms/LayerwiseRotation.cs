// The rotation of a layer-streaming run: embedding, head and final norm rotated up front, each decoder layer as the run reads it.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// A rotation (docs/rotations.md) that never holds the rotated model: only the model-level tensors — the embedding
/// (needed first, for the calibration inputs and as the file's first tensor), the head and the final norm (written
/// last) — are rotated up front and held in fp32; each decoder layer is folded and rotated by <see cref="LayerTransform"/>,
/// the first transform of a <see cref="LayerStreamingQuantizer"/> run, when the run reads the layer, and dropped with
/// it. Memory: the model-level tensors in fp32 (<see cref="HeldBytes"/>) plus the run's one layer, instead of every
/// tensor in fp32 (<see cref="ModelRotation.Rotate"/>). The tensors are the same arrays either way (the same steps,
/// <see cref="ModelLevelRotation"/> and <see cref="LayerRotation.Apply"/>), so the outputs are byte for byte those of a
/// run on the whole rotated model.
/// </summary>
public sealed class LayerwiseRotation : IDisposable
{
    private readonly ModelLevelRotation _top;
    private readonly LlamaModel _source;
    private readonly Dictionary<string, TensorView> _tensors = new(StringComparer.Ordinal);
    private readonly List<GCHandle> _pins = [];

    private LayerwiseRotation(LlamaModel source, ModelLevelRotation top)
    {
        _source = source;
        _top = top;
        var names = top.Parameters.Architecture.HfNaming;
        Pin(top.Embedding.Name, top.Embedding.Values, [top.Embedding.Rows, top.Embedding.Cols]);
        Pin(names.OutputNorm, top.OutputNorm, [top.OutputNorm.Length]);
        if (top.Output is { } head) Pin(head.Name, head.Values, [head.Rows, head.Cols]);
        LayerTransform = new RotationLayerTransform(this);
    }

    /// <summary>
    /// Checks that <paramref name="model"/> can be rotated (<see cref="ModelRotation.ThrowIfUnsupported"/>), draws the
    /// rotations and rotates its embedding, head and final norm. <paramref name="log"/> receives the rotations chosen and
    /// the head's fate. <paramref name="model"/> must stay open while the rotation is used: the layers are read from it.
    /// </summary>
    public static LayerwiseRotation Prepare(LlamaModel model, RotationOptions options, Action<string>? log = null)
    {
        ModelRotation.ThrowIfUnsupported(model);
        return new LayerwiseRotation(model, ModelLevelRotation.Create(model, options, log));
    }

    /// <summary>The rotated model's hyperparameters (<see cref="LlamaHyperParameters.TiedEmbeddings"/> false when the head was untied).</summary>
    public LlamaHyperParameters Parameters => _top.Parameters;

    /// <summary>What was chosen, one line each (rotations, tied or untied head).</summary>
    public IReadOnlyList<string> Notes => _top.Notes;

    /// <summary>Bytes held for the whole run: the rotated embedding, head and final norm in fp32.</summary>
    public long HeldBytes => _top.Bytes;

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
        new(new LayerPendingWeights(this, origin ?? _source.Origin), Parameters, Parameters.Architecture.HfNaming, tokenizer, "hf-safetensors");

    /// <summary>
    /// The transform a run over <paramref name="model"/> must apply first: <see cref="LayerTransform"/> when the model is
    /// one that <see cref="Open"/> returned (its layers are not rotated yet), else null.
    /// </summary>
    public static ILayerTransform? PendingLayerTransform(LlamaModel model) =>
        model.Source is LayerPendingWeights w ? w.Owner.LayerTransform : null;

    internal bool Opened(LlamaModel model) => model.Source is LayerPendingWeights w && w.Owner == this;

    internal void RotateLayer(DecoderLayerTensors layer) => LayerRotation.Apply(layer, _top.Residual, _top.ValueHead, _top.Threads);

    /// <summary>Unpins the rotated tensors (the opened model's views become invalid).</summary>
    public void Dispose()
    {
        foreach (var p in _pins) p.Free();
        _pins.Clear();
    }

    // The rotated arrays themselves, pinned in place (no copy: the embedding of a large vocabulary is gigabytes).
    private unsafe void Pin(string name, float[] values, long[] shape)
    {
        var handle = GCHandle.Alloc(values, GCHandleType.Pinned);
        _pins.Add(handle);
        _tensors[name] = new TensorView(name, DType.F32, shape, (byte*)handle.AddrOfPinnedObject(), values.LongLength * sizeof(float));
    }

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
