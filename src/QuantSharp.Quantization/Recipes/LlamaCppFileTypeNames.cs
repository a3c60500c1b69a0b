// The names llama-quantize accepts for its file types (with its aliases) and each type's default block type.
using System.Globalization;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Parses and names <see cref="LlamaCppFileType"/> values as llama-quantize does: its option names
/// (case-insensitive, e.g. "q4_k_m"), its aliases Q3_K → Q3_K_M, Q4_K → Q4_K_M, Q5_K → Q5_K_M, and
/// the numeric llama_ftype id.
/// </summary>
public static class LlamaCppFileTypeNames
{
    private static readonly (string Name, LlamaCppFileType Type)[] Aliases =
        [("Q3_K", LlamaCppFileType.Q3_K_M), ("Q4_K", LlamaCppFileType.Q4_K_M), ("Q5_K", LlamaCppFileType.Q5_K_M)];

    /// <summary>Every file type, in llama-quantize's listing order.</summary>
    public static IReadOnlyList<LlamaCppFileType> All { get; } =
    [
        LlamaCppFileType.Q4_0, LlamaCppFileType.Q4_1, LlamaCppFileType.Q5_0, LlamaCppFileType.Q5_1,
        LlamaCppFileType.Q2_K, LlamaCppFileType.Q2_K_S, LlamaCppFileType.Q3_K_S, LlamaCppFileType.Q3_K_M, LlamaCppFileType.Q3_K_L,
        LlamaCppFileType.IQ4_NL, LlamaCppFileType.IQ4_XS, LlamaCppFileType.Q4_K_S, LlamaCppFileType.Q4_K_M,
        LlamaCppFileType.Q5_K_S, LlamaCppFileType.Q5_K_M, LlamaCppFileType.Q6_K, LlamaCppFileType.Q8_0,
    ];

    /// <summary>Every accepted name: the file types and the aliases.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(t => t.ToString()), .. Aliases.Select(a => a.Name)];

    /// <summary>Parses a llama-quantize type name, alias or numeric id; null when it names none of <see cref="All"/>.</summary>
    public static LlamaCppFileType? TryParse(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        string n = name.Trim();
        foreach (var t in All)
            if (string.Equals(t.ToString(), n, StringComparison.OrdinalIgnoreCase)) return t;
        foreach (var (alias, t) in Aliases)
            if (string.Equals(alias, n, StringComparison.OrdinalIgnoreCase)) return t;
        if (int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            foreach (var t in All)
                if ((int)t == id) return t;
        return null;
    }

    /// <summary>Parses like <see cref="TryParse"/>; an unknown name is an error listing the valid ones.</summary>
    public static LlamaCppFileType Parse(string? name) =>
        TryParse(name) ?? throw new ArgumentException($"unknown quantization type '{name}'; valid types: {string.Join(", ", Names)}");

    /// <summary>
    /// The block type most tensors of <paramref name="fileType"/> get (llama.cpp's default_type for the
    /// ftype): the one type of a pure file, the starting point of a mix.
    /// </summary>
    public static DType DefaultType(LlamaCppFileType fileType) => fileType switch
    {
        LlamaCppFileType.Q4_0 => DType.Q4_0,
        LlamaCppFileType.Q4_1 => DType.Q4_1,
        LlamaCppFileType.Q5_0 => DType.Q5_0,
        LlamaCppFileType.Q5_1 => DType.Q5_1,
        LlamaCppFileType.Q8_0 => DType.Q8_0,
        LlamaCppFileType.Q2_K or LlamaCppFileType.Q2_K_S => DType.Q2_K,
        LlamaCppFileType.Q3_K_S or LlamaCppFileType.Q3_K_M or LlamaCppFileType.Q3_K_L => DType.Q3_K,
        LlamaCppFileType.Q4_K_S or LlamaCppFileType.Q4_K_M => DType.Q4_K,
        LlamaCppFileType.Q5_K_S or LlamaCppFileType.Q5_K_M => DType.Q5_K,
        LlamaCppFileType.Q6_K => DType.Q6_K,
        LlamaCppFileType.IQ4_NL => DType.IQ4_NL,
        LlamaCppFileType.IQ4_XS => DType.IQ4_XS,
        _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "not a file type QuantSharp writes"),
    };
}
