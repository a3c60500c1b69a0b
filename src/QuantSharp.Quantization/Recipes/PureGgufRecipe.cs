// llama-quantize --pure: every 2-D weight in one block type, with llama.cpp's fallbacks for rows that do not fit.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Round-to-nearest quantization of every 2-D weight (token embedding and classifier included) into
/// one GGUF block type, as llama-quantize does with --pure. Rows that are not a whole number of
/// blocks fall back as llama.cpp does (<see cref="LlamaCppMix.Fallback"/>). A thin layer over
/// <see cref="LlamaCppMixRecipe"/> for callers that think in block types rather than file types.
/// </summary>
public static class PureGgufRecipe
{
    /// <summary>Types this recipe can write.</summary>
    public static readonly DType[] SupportedTypes =
        [DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q8_0, DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.IQ4_NL, DType.IQ4_XS];

    /// <summary>The llama.cpp file type a pure file of <paramref name="type"/> is labelled with (the "_S" one for K-quants).</summary>
    public static LlamaCppFileType FileTypeOf(DType type) => type switch
    {
        DType.Q4_0 => LlamaCppFileType.Q4_0,
        DType.Q4_1 => LlamaCppFileType.Q4_1,
        DType.Q8_0 => LlamaCppFileType.Q8_0,
        DType.Q5_0 => LlamaCppFileType.Q5_0,
        DType.Q5_1 => LlamaCppFileType.Q5_1,
        DType.Q2_K => LlamaCppFileType.Q2_K,
        DType.Q3_K => LlamaCppFileType.Q3_K_S,
        DType.Q4_K => LlamaCppFileType.Q4_K_S,
        DType.Q5_K => LlamaCppFileType.Q5_K_S,
        DType.Q6_K => LlamaCppFileType.Q6_K,
        DType.IQ4_NL => LlamaCppFileType.IQ4_NL,
        DType.IQ4_XS => LlamaCppFileType.IQ4_XS,
        _ => throw new NotSupportedException($"{type} is not a GGUF weight type this recipe writes"),
    };

    /// <summary>llama.cpp's general.file_type for a pure file of <paramref name="type"/> (llama_ftype).</summary>
    public static uint FileType(DType type) => (uint)FileTypeOf(type);

    /// <summary>The exporter encoding for a pure <paramref name="type"/> file of <paramref name="model"/>.</summary>
    public static GgufTensorEncoding Encoding(LlamaModel model, DType type, IReadOnlyDictionary<string, float[]>? importance = null) =>
        LlamaCppMixRecipe.Encoding(model, FileTypeOf(type), importance, pure: true);

    /// <summary>Quantizes <paramref name="model"/> into a GGUF at <paramref name="outputPath"/> (temporary file, renamed when complete).</summary>
    /// <param name="model">The model.</param>
    /// <param name="outputPath">Destination .gguf.</param>
    /// <param name="type">The one block type.</param>
    /// <param name="importance">Per-column importance by GGUF tensor name, or null.</param>
    /// <param name="protectedPaths">Further files that must not be overwritten.</param>
    /// <param name="progress">Reports (tensors written, total).</param>
    /// <param name="cancellationToken">Cancels; the partial file is removed.</param>
    public static void Quantize(LlamaModel model, string outputPath, DType type, IReadOnlyDictionary<string, float[]>? importance = null,
        IEnumerable<string>? protectedPaths = null, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (Array.IndexOf(SupportedTypes, type) < 0)
            throw new ArgumentException($"--type {type} is not supported; choose one of {string.Join(", ", SupportedTypes)}");
        GgufLlamaExporter.Export(model, outputPath, Encoding(model, type, importance), protectedPaths: protectedPaths, progress: progress, cancellationToken: cancellationToken);
    }
}
