// The result of a whole-model rotation: fp32 tensors in memory under Hugging Face names, and what was done.
using QuantSharp.Formats;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// A rotated model: every tensor in fp32 under its Hugging Face name (norms all ones), the hyperparameters
/// (<see cref="LlamaHyperParameters.TiedEmbeddings"/> false when the head had to be untied) and the choices made,
/// for the log and the output folder's rotation.json, and the settings every output records (<see cref="Record"/>).
/// </summary>
public sealed class RotatedModel(InMemoryWeights weights, LlamaHyperParameters parameters, IReadOnlyList<string> notes, RotationRecord record) : IDisposable
{
    /// <summary>The rotation's settings (<see cref="LlamaModel.Rotation"/> of the opened model; config.json / GGUF metadata of its outputs).</summary>
    public RotationRecord Record { get; } = record;
    /// <summary>The tensors, in the order a checkpoint stores them.</summary>
    public InMemoryWeights Weights { get; } = weights;
    /// <summary>The hyperparameters of the rotated model.</summary>
    public LlamaHyperParameters Parameters { get; } = parameters;
    /// <summary>What was done, one line each (rotations used, tied or untied head).</summary>
    public IReadOnlyList<string> Notes { get; } = notes;

    /// <summary>The rotated model as a runnable <see cref="LlamaModel"/> over <see cref="Weights"/> (not owning them).</summary>
    /// <param name="tokenizer">The source model's tokenizer (the rotation does not change it).</param>
    /// <param name="origin">
    /// The <see cref="LlamaModel.Origin"/> the opened model reports; null: the weights' own ("… (rotated)"). Pass the source
    /// folder when an exporter reads it for the files beside the weights (config.json, tokenizer files, the GGUF's name):
    /// they are the source's, only the tensors changed.
    /// </param>
    public LlamaModel Open(ITextTokenizer? tokenizer, string? origin = null) =>
        new(new NonOwningWeights(Weights, origin ?? Weights.Origin), Parameters, Parameters.Architecture.HfNaming, tokenizer, "hf-safetensors") { Rotation = Record };

    /// <inheritdoc/>
    public void Dispose() => Weights.Dispose();

    private sealed class NonOwningWeights(IWeightSource inner, string origin) : IWeightSource
    {
        public string Origin => origin;
        public IReadOnlyList<string> TensorNames => inner.TensorNames;
        public bool Contains(string name) => inner.Contains(name);
        public Core.Tensors.TensorView Get(string name) => inner.Get(name);
        public void Dispose() { }
    }
}
