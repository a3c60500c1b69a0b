// llama-quantize MODEL OUT TYPE: a named mix (Q4_K_M, …) or --pure, round-to-nearest, optionally importance-weighted.
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Quantizes a Llama model into a GGUF of one of llama.cpp's named file types, choosing every
/// tensor's type as llama_model_quantize does (<see cref="LlamaCppMix"/>) and quantizing with the
/// same block quantizers: without an importance matrix the files are byte-identical to llama.cpp's.
/// </summary>
public static class LlamaCppMixRecipe
{
    /// <summary>The hyperparameters the mix rules read, from a loaded model.</summary>
    public static MixModelShape ShapeOf(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var hp = model.Parameters;
        return new MixModelShape(hp.NumLayers, hp.NumHeads, hp.NumKvHeads, hp.ExpertCount);
    }

    /// <summary>The type of every 2-D weight of <paramref name="model"/> for <paramref name="fileType"/>, after <paramref name="overrides"/>.</summary>
    public static IReadOnlyDictionary<string, GgmlType> Plan(LlamaModel model, LlamaCppFileType fileType, bool hasImportance = false, bool pure = false,
        TensorTypeOverrides? overrides = null) =>
        LlamaCppMix.Plan(fileType, ShapeOf(model), GgufLlamaExporter.Matrices(model).Select(m => new MixTensor(m.Name, m.Columns)), hasImportance, pure, overrides);

    /// <summary>
    /// The exporter encoding for <paramref name="fileType"/>: the planned type per tensor, block rows
    /// quantized with the tensor's importance entry when <paramref name="importance"/> has one.
    /// Checks up front what llama.cpp checks before writing (non-finite importance, a Q2_K_S file without one).
    /// </summary>
    public static GgufTensorEncoding Encoding(LlamaModel model, LlamaCppFileType fileType, IReadOnlyDictionary<string, float[]>? importance = null, bool pure = false,
        TensorTypeOverrides? overrides = null)
    {
        if (importance != null) TensorImportance.Validate(importance);
        var plan = Plan(model, fileType, importance != null, pure, overrides);
        var experts = GgufLlamaExporter.Matrices(model).Where(m => m.Matrices > 1).ToDictionary(m => m.Name, m => m.Matrices, StringComparer.Ordinal);
        // Every entry is checked against its tensor before anything is written: a wrong length is an error even for a
        // tensor that falls back to F16 (llama.cpp looks the entry up for every tensor it converts), and a Q2_K_S
        // tensor without one is refused up front.
        foreach (var (name, _, columns, matrices) in GgufLlamaExporter.Matrices(model))
            TensorImportance.For(importance, name, plan[name], checked((int)columns), fileType, matrices);
        return new GgufTensorEncoding(
            (name, _) => plan.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{fileType}: no type planned for tensor {name}"),
            (name, matrix, type, rows, rowLength, dst) =>
            {
                var weights = TensorImportance.For(importance, name, type, rowLength, fileType, experts.GetValueOrDefault(name, 1), matrix);
                BlockQuantizer.QuantizeRows(GgmlTypeInfo.Of(type).CoreType!.Value, rows, rowLength, dst, weights.Span,
                    matrix == 0 && !experts.ContainsKey(name) ? $"tensor '{name}'" : $"tensor '{name}' expert {matrix}");
            },
            (uint)fileType);
    }

    /// <summary>
    /// The exporter encoding of <paramref name="fileType"/> for a calibrated run (GPTQ, AWQ, RTN with statistics)
    /// whose decoder-layer linears arrive encoded (<see cref="GgufTensorEncoding.LayerTensors"/>, set by the caller):
    /// the plan is llama.cpp's with an importance matrix (the run has statistics for every decoder-layer linear), and
    /// the model-level matrices (token embedding, untied classifier) are quantized without one, as after
    /// llama-imatrix, which by default collects nothing for them.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="fileType">The named mix.</param>
    /// <param name="pure">One block type everywhere.</param>
    /// <param name="overrides">Per-tensor type overrides (as the run's quantizer was planned with).</param>
    /// <param name="encodedModelTensors">Model-level matrices already encoded in their planned type by name (the classifier
    /// rounded with calibration, <see cref="Calibration.ClassifierCalibration"/>), written instead of quantizing them here.</param>
    public static GgufTensorEncoding CalibratedEncoding(LlamaModel model, LlamaCppFileType fileType, bool pure = false, TensorTypeOverrides? overrides = null,
        IReadOnlyDictionary<string, byte[]>? encodedModelTensors = null)
    {
        if (!Enum.IsDefined(fileType)) throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "not a file type QuantSharp writes");
        var plan = Plan(model, fileType, hasImportance: true, pure, overrides);
        foreach (var (name, _, columns, _) in GgufLlamaExporter.Matrices(model))
            if (name is LlamaGgufNames.TokenEmbedding or LlamaGgufNames.Output)
                TensorImportance.For(null, name, plan[name], checked((int)columns), fileType);
        return new GgufTensorEncoding(
            (name, _) => plan.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{fileType}: no type planned for tensor {name}"),
            (name, matrix, type, rows, rowLength, dst) =>
            {
                if (encodedModelTensors?.GetValueOrDefault(name) is { } bytes)
                {
                    if (type != plan[name] || bytes.Length != dst.Length)
                        throw new InvalidOperationException($"tensor '{name}': {bytes.Length} encoded bytes of {plan[name]} for a {type} tensor of {dst.Length} bytes");
                    bytes.CopyTo(dst);
                }
                else BlockQuantizer.QuantizeRows(GgmlTypeInfo.Of(type).CoreType!.Value, rows, rowLength, dst, default, $"tensor '{name}'");
            },
            (uint)fileType);
    }

    /// <summary>
    /// The planned type of every decoder-layer linear, indexed [layer][(int)<see cref="LlamaLinear"/>]: the type of the
    /// GGUF tensor the linear is written into (a fused tensor's, for its parts; the stacked experts' tensor, for an
    /// expert's gate/up/down).
    /// </summary>
    public static GgmlType[][] LinearTypes(LlamaModel model, IReadOnlyDictionary<string, GgmlType> plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        var naming = model.Parameters.Architecture.GgufNaming;
        var types = new GgmlType[model.Parameters.NumLayers][];
        for (int l = 0; l < types.Length; l++)
        {
            types[l] = new GgmlType[LlamaLinearExtensions.All.Length];
            foreach (var linear in LlamaLinearExtensions.All)
            {
                var role = model.Layers[l].Experts is { } ex && linear is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down
                    ? ex.For(linear).Role : linear.Role();
                string name = naming.Name(role, l);
                types[l][(int)linear] = plan.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no type planned for tensor {name}");
            }
        }
        return types;
    }

    /// <summary>Quantizes <paramref name="model"/> into a GGUF at <paramref name="outputPath"/> (temporary file, renamed when complete).</summary>
    /// <param name="model">The model.</param>
    /// <param name="outputPath">Destination .gguf (never one of the model's files).</param>
    /// <param name="fileType">The named mix; its id becomes general.file_type.</param>
    /// <param name="importance">Per-column importance by GGUF tensor name (an imatrix), or null for plain round-to-nearest.</param>
    /// <param name="pure">Every weight in the file type's default block type (llama-quantize --pure).</param>
    /// <param name="protectedPaths">Further files that must not be overwritten.</param>
    /// <param name="progress">Reports (tensors written, total).</param>
    /// <param name="cancellationToken">Cancels; the partial file is removed.</param>
    /// <param name="overrides">Per-tensor type overrides (llama-quantize's --tensor-type, --token-embedding-type, --output-tensor-type).</param>
    public static void Quantize(LlamaModel model, string outputPath, LlamaCppFileType fileType, IReadOnlyDictionary<string, float[]>? importance = null,
        bool pure = false, IEnumerable<string>? protectedPaths = null, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default,
        TensorTypeOverrides? overrides = null)
    {
        if (!Enum.IsDefined(fileType)) throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "not a file type QuantSharp writes");
        GgufLlamaExporter.Export(model, outputPath, Encoding(model, fileType, importance, pure, overrides), protectedPaths: protectedPaths, progress: progress, cancellationToken: cancellationToken);
    }
}
