// The whole-model rotation driver: embeddings, every layer (fold + R1 + R2), final norm and head.
using QuantSharp.Formats;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// Rotates a model's residual stream by a seeded randomized Hadamard Q₁ (order hidden) and, optionally, each value
/// head by Q₂ (order head_dim), folding every RMSNorm into its readers, so that the result computes the same function
/// with all norms equal to ones. Layer by layer through <see cref="LayerRotation.Apply"/>, so a layer-streaming
/// runner can call the same step.
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

    /// <summary>Rotates <paramref name="model"/>; <paramref name="log"/> receives the rotations chosen and the head's fate.</summary>
    public static RotatedModel Rotate(LlamaModel model, RotationOptions options, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfUnsupported(model);
        var hp = model.Parameters;
        var names = hp.Architecture.HfNaming;
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); log?.Invoke(s); }
        var r1 = OrthogonalRotation.Create(hp.Dim, options.Seed);
        var r2 = options.HeadRotation ? OrthogonalRotation.Create(hp.HeadDim, options.HeadSeed) : null;
        Note($"R1 (residual, order {hp.Dim}): {r1.Description}, seed {options.Seed}");
        Note(r2 is null ? "R2: off" : $"R2 (per value head, order {hp.HeadDim}): {r2.Description}, seed {options.HeadSeed}");

        var outW = new InMemoryWeights(model.Origin + " (rotated)");
        var embedding = FloatMatrix.From(model.TokenEmbedding) with { Name = names.TokenEmbedding };
        // The head before the embedding is rotated: tied models share the matrix.
        var finalNorm = (float[])model.OutputNorm.Clone();
        bool keepTied = hp.TiedEmbeddings && finalNorm.All(g => g == 1f);
        FloatMatrix? head = keepTied ? null : FloatMatrix.From(model.Output) with { Name = names.Output };
        MatrixRotation.RotateRows(embedding, r1, options.Threads);
        outW.Add(embedding.Name, embedding.Values, embedding.Rows, embedding.Cols);

        for (int i = 0; i < hp.NumLayers; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var layer = DecoderLayerTensors.From(model, i, names);
            LayerRotation.Apply(layer, r1, r2, options.Threads);
            foreach (var (name, values, shape) in layer.Tensors(names)) outW.Add(name, values, shape);
        }

        if (head is not null)
        {
            RmsNormFolding.Fold(finalNorm, [head]);
            MatrixRotation.RotateRows(head, r1, options.Threads);
        }
        outW.Add(names.OutputNorm, finalNorm, finalNorm.Length);
        if (head is not null) outW.Add(head.Name, head.Values, head.Rows, head.Cols);
        if (hp.TiedEmbeddings)
            Note(keepTied ? "embeddings stay tied (the final norm is all ones)"
                : "embeddings untied: the final norm's γ is not all ones, so the head E·diag(γ)·Q₁ differs from the embedding E·Q₁ and is written as lm_head");
        return new RotatedModel(outW, hp with { TiedEmbeddings = keepTied }, notes);
    }
}
