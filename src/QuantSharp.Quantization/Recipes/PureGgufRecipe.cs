// llama-quantize --pure: every 2-D weight in one block type, with llama.cpp's fallbacks for rows that do not fit.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Round-to-nearest quantization of every 2-D weight (token embedding and classifier included) into
/// one GGUF block type, as llama-quantize does with --pure. Rows that are not a whole number of
/// 256-blocks fall back as llama.cpp does (Q2_K/Q3_K/IQ4_XS → IQ4_NL, Q4_K → Q5_0, Q5_K → Q5_1,
/// Q6_K → Q8_0), and to F16 when even the fallback's 32-blocks do not fit.
/// </summary>
public static class PureGgufRecipe
{
    /// <summary>Types this recipe can write.</summary>
    public static readonly DType[] SupportedTypes =
        [DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1, DType.Q8_0, DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.IQ4_NL, DType.IQ4_XS];

    /// <summary>llama.cpp's general.file_type for a pure file of <paramref name="type"/> (llama_ftype).</summary>
    public static uint FileType(DType type) => type switch
    {
        DType.Q4_0 => 2,
        DType.Q4_1 => 3,
        DType.Q8_0 => 7,
        DType.Q5_0 => 8,
        DType.Q5_1 => 9,
        DType.Q2_K => 10,
        DType.Q3_K => 11, // Q3_K_S
        DType.Q4_K => 14, // Q4_K_S
        DType.Q5_K => 16, // Q5_K_S
        DType.Q6_K => 18,
        DType.IQ4_NL => 25,
        DType.IQ4_XS => 30,
        _ => throw new NotSupportedException($"{type} is not a GGUF weight type this recipe writes"),
    };

    /// <summary>The type a tensor whose rows have <paramref name="columns"/> values gets for target <paramref name="type"/>.</summary>
    public static DType? TypeForRow(DType type, long columns)
    {
        if (columns % DTypeInfo.BlockSize(type) == 0) return type;
        DType fallback = type switch
        {
            DType.Q2_K or DType.Q3_K or DType.IQ4_XS => DType.IQ4_NL,
            DType.Q4_K => DType.Q5_0,
            DType.Q5_K => DType.Q5_1,
            DType.Q6_K => DType.Q8_0,
            _ => type,
        };
        return columns % DTypeInfo.BlockSize(fallback) == 0 ? fallback : null; // null: F16
    }

    /// <summary>The exporter encoding for a pure <paramref name="type"/> file.</summary>
    public static GgufTensorEncoding Encoding(DType type)
    {
        uint fileType = FileType(type);
        return new GgufTensorEncoding(
            (_, shape) => TypeForRow(type, shape[^1]) is { } t ? GgmlTypeInfo.FromDType(t)!.Value : GgmlType.F16,
            (ggml, rows, rowLength, dst) => BlockQuantizer.QuantizeRows(GgmlTypeInfo.Of(ggml).CoreType!.Value, rows, rowLength, dst),
            fileType);
    }

    /// <summary>Quantizes <paramref name="model"/> into a GGUF at <paramref name="outputPath"/> (temporary file, renamed when complete).</summary>
    public static void Quantize(LlamaModel model, string outputPath, DType type, IEnumerable<string>? protectedPaths = null,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (Array.IndexOf(SupportedTypes, type) < 0)
            throw new ArgumentException($"--type {type} is not supported; choose one of {string.Join(", ", SupportedTypes)}");
        GgufLlamaExporter.Export(model, outputPath, Encoding(type), protectedPaths: protectedPaths, progress: progress, cancellationToken: cancellationToken);
    }
}
