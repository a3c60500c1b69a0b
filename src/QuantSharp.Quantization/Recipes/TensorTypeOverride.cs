// One llama-quantize --tensor-type PATTERN=TYPE entry: a regular expression searched in GGUF tensor names, and the type it gives.
using System.Text.RegularExpressions;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// One <c>--tensor-type PATTERN=TYPE</c>: tensors whose GGUF name the pattern finds (a regex search, as llama.cpp's
/// std::regex_search) get <see cref="Type"/> (the first matching entry of <see cref="TensorTypeOverrides.TensorTypes"/> wins).
/// </summary>
public sealed class TensorTypeOverride
{
    private readonly Regex _regex;

    /// <summary>Creates the entry; the pattern is compiled here, so an invalid one is refused at once.</summary>
    /// <param name="pattern">The regular expression as written (ECMAScript syntax, matched anywhere in the name).</param>
    /// <param name="type">The block type those tensors get.</param>
    /// <exception cref="FormatException">The pattern is not a valid regular expression.</exception>
    public TensorTypeOverride(string pattern, GgmlType type)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        _regex = TensorTypeOverrides.Compile(pattern);
        Pattern = pattern;
        Type = type;
    }

    /// <summary>The regular expression as written.</summary>
    public string Pattern { get; }

    /// <summary>The block type the matching tensors get.</summary>
    public GgmlType Type { get; }

    /// <summary>Whether the pattern is found in <paramref name="tensorName"/>.</summary>
    public bool Matches(string tensorName) => _regex.IsMatch(tensorName);
}
