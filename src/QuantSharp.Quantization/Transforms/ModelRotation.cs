// The whole-model rotation driver: embeddings, every layer (fold + R1 + R2), final norm and head.
using QuantSharp.Formats;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// Rotates a model's residual stream by a seeded randomized Hadamard Q₁ (order hidden) and, optionally, each value
/// head by Q₂ (order head_dim), folding every RMSNorm into its readers, so that the result computes the same function
/// with all norms equal to ones. The embedding, head and final norm through <see cref="ModelLevelRotation"/>, the
/// layers one by one through <see cref="LayerRotation.Apply"/>: the steps a layer-streaming run
/// (<see cref="LayerwiseRotation"/>) takes too, so both give the same bytes.
/// <para>Embedding E' = E·Q₁. Head: the final norm's γ folds into it, W' = W·diag(γ)·Q₁. Tied embeddings stay tied
/// only when that equals E' exactly, i.e. γ is all ones; otherwise the output is untied (an lm_head tensor is
/// written, tie_word_embeddings false) and a note says so — folding γ into the shared matrix would change the
/// embedding, and keeping γ in the norm would break the rotation's invariance.</para>
/// </summary>
public static class ModelRotation
{
    /// <summary>Throws a clear error naming the input when <paramref name="model"/> cannot be rotated (architecture, format, quantized weights).</summary>
    public static void ThrowIfUnsupported(LlamaModel model)
    {
        RmsNormFolding.ThrowIfUnsupported(model.Parameters.Architecture, model.Origin);
        // A second rotation would compute the same function, but the files could record only one of the two.
        if (model.Rotation is { } done)
            throw new NotSupportedException($"{model.Origin}: already rotated ({done}); rotate the original model instead");
        switch (model.Format)
        {
            case "hf-safetensors": break;
            case "hf-gptq" or "hf-awq":
                throw new NotSupportedException($"{model.Origin}: a quantized ({(model.Format == "hf-awq" ? "AWQ" : "GPTQ")}) checkpoint; rotate the float model, then quantize");
            case "gguf":
                foreach (var name in model.Source.TensorNames)
                    if (model.Source.Get(name).DType is not (Core.Tensors.DType.F32 or Core.Tensors.DType.F16 or Core.Tensors.DType.BF16))
                        throw new NotSupportedException($"{model.Origin}: tensor '{name}' is {model.Source.Get(name).DType}, a quantized type; rotate the float model, then quantize");
                throw new NotSupportedException($"{model.Origin}: rotating a GGUF is not implemented yet; rotate the Hugging Face folder it came from");
            default:
                throw new NotSupportedException($"{model.Origin}: rotating a {model.Format} model is not implemented; use a Hugging Face folder");
        }
        foreach (var name in model.Source.TensorNames)
            if (model.Source.Get(name).DType is not (Core.Tensors.DType.F32 or Core.Tensors.DType.F16 or Core.Tensors.DType.BF16))
                throw new NotSupportedException($"{model.Origin}: tensor '{name}' is {model.Source.Get(name).DType}; rotations need F32, F16 or BF16 weights");
    }

    /// <summary>
    /// Rotates <paramref name="model"/>, every tensor into fp32 in memory (the whole rotated model: what the
    /// <c>rotate</c> command writes; a layer-streaming run uses <see cref="LayerwiseRotation"/> instead);
    /// <paramref name="log"/> receives the rotations chosen and the head's fate.
    /// </summary>
    public static RotatedModel Rotate(LlamaModel model, RotationOptions options, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfUnsupported(model);
        var hp = model.Parameters;
        var names = hp.Architecture.HfNaming;
        var top = ModelLevelRotation.Create(model, options, log);
        var outW = new InMemoryWeights(model.Origin + " (rotated)");
        var embedding = top.RotatedEmbedding();
        outW.Add(embedding.Name, embedding.Values, embedding.Rows, embedding.Cols);
        for (int i = 0; i < hp.NumLayers; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var layer = DecoderLayerTensors.From(model, i, names);
            LayerRotation.Apply(layer, top.Residual, top.ValueHead, options.Threads);
            foreach (var (name, values, shape) in layer.Tensors(names)) outW.Add(name, values, shape);
        }
        outW.Add(names.OutputNorm, top.OutputNorm(), hp.Dim);
        if (top.RotatedOutput() is { } head) outW.Add(head.Name, head.Values, head.Rows, head.Cols);
        return new RotatedModel(outW, top.Parameters, top.Notes, top.Record);
    }
}
