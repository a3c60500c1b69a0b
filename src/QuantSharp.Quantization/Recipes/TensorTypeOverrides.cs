// llama-quantize's per-tensor type overrides (--tensor-type PATTERN=TYPE, --token-embedding-type, --output-tensor-type) on a named mix.
using System.Globalization;
using System.Text.RegularExpressions;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Recipes;

/// <summary>
/// Changes to a named mix's per-tensor types, applied as llama_model_quantize applies them (llama.cpp b8390,
/// src/llama-quant.cpp): unless the mix is <c>--pure</c>, the first <see cref="TensorTypes"/> entry whose pattern is found
/// in a tensor's name gives its type instead of the mix's rule (which then does not count that tensor in its per-layer
/// counters), and the fallback for rows that fit no block of that type still applies; last, <see cref="TokenEmbeddingType"/>
/// and <see cref="OutputTensorType"/> set token_embd.weight's and output.weight's type (pure too), and are refused when
/// their blocks do not fit the rows (llama.cpp would stop in ggml's quantizer).
/// </summary>
public sealed record TensorTypeOverrides
{
    /// <summary>The block types an override may name: every type QuantSharp's quantizers write into a mix.</summary>
    public static IReadOnlyList<GgmlType> WritableTypes { get; } =
    [
        GgmlType.F16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
    ];

    /// <summary>The <c>--tensor-type</c> entries in command-line order.</summary>
    public IReadOnlyList<TensorTypeOverride> TensorTypes { get; init; } = [];

    /// <summary><c>--token-embedding-type</c>: token_embd.weight's type; null keeps the mix's.</summary>
    public GgmlType? TokenEmbeddingType { get; init; }

    /// <summary><c>--output-tensor-type</c>: output.weight's type (an untied classifier); null keeps the mix's.</summary>
    public GgmlType? OutputTensorType { get; init; }

    /// <summary>Whether nothing is overridden.</summary>
    public bool IsEmpty => TensorTypes.Count == 0 && TokenEmbeddingType is null && OutputTensorType is null;

    /// <summary>
    /// Parses a block type name as llama-quantize does (ggml's names, case-insensitive: q4_k, Q6_K, f16, iq4_xs).
    /// </summary>
    /// <exception cref="FormatException">Not one of <see cref="WritableTypes"/>; the message lists them.</exception>
    public static GgmlType ParseType(string name)
    {
        string n = (name ?? "").Trim();
        foreach (var t in WritableTypes)
            if (string.Equals(t.ToString(), n, StringComparison.OrdinalIgnoreCase)) return t;
        throw new FormatException($"'{name}' is not a block type QuantSharp writes; choose one of {string.Join(", ", WritableTypes)}");
    }

    /// <summary>Parses one <c>PATTERN=TYPE</c> (the type after the last '=', so a pattern may contain '=').</summary>
    /// <exception cref="FormatException">No '=', an empty pattern, an invalid regular expression or an unknown type.</exception>
    public static TensorTypeOverride ParseTensorType(string spec)
    {
        int eq = (spec ?? "").LastIndexOf('=');
        if (eq <= 0 || eq == spec!.Length - 1)
            throw new FormatException($"'{spec}' is not PATTERN=TYPE (e.g. attn_v=q6_k or 'blk\\.[0-3]\\.ffn_down=q5_k')");
        return new TensorTypeOverride(spec[..eq], ParseType(spec[(eq + 1)..]));
    }

    /// <summary>The pattern compiled as llama.cpp's std::regex (ECMAScript grammar, case-sensitive).</summary>
    internal static Regex Compile(string pattern)
    {
        try { return new Regex(pattern, RegexOptions.ECMAScript | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
        catch (ArgumentException e) { throw new FormatException($"'{pattern}' is not a valid regular expression: {e.Message}", e); }
    }

    /// <summary>
    /// The <c>--tensor-type</c> type of <paramref name="name"/>: the first entry whose pattern is found in it, or null when none
    /// is (the mix's rule decides). llama.cpp b8390 skips an entry whose type equals the file type's default type and goes
    /// on matching, so that such an override is lost to the mix's rule; here it holds, as written.
    /// </summary>
    public GgmlType? TensorTypeFor(string name)
    {
        foreach (var o in TensorTypes)
            if (o.Matches(name)) return o.Type;
        return null;
    }

    /// <summary>
    /// <paramref name="planned"/> (the type after every rule and fallback) replaced by <see cref="TokenEmbeddingType"/> or
    /// <see cref="OutputTensorType"/> when <paramref name="name"/> is that tensor; llama.cpp applies these last, without a
    /// fallback, so a type whose blocks do not fit the rows is refused here.
    /// </summary>
    /// <exception cref="NotSupportedException">The type's blocks do not fit the tensor's rows of <paramref name="columns"/> values.</exception>
    public GgmlType ApplyModelTensorTypes(string name, long columns, GgmlType planned)
    {
        GgmlType? type = name == LlamaGgufNames.TokenEmbedding ? TokenEmbeddingType : name == LlamaGgufNames.Output ? OutputTensorType : null;
        if (type is not { } t) return planned;
        var info = GgmlTypeInfo.Of(t);
        if (columns % info.BlockSize != 0)
            throw new NotSupportedException(string.Create(CultureInfo.InvariantCulture,
                $"--{(name == LlamaGgufNames.Output ? "output-tensor" : "token-embedding")}-type {t}: tensor {name} has rows of {columns} values, not a multiple of {info.Name}'s block of {info.BlockSize}"));
        return t;
    }

    /// <summary>
    /// Checks every entry against the model's tensor names: a <c>--tensor-type</c> pattern that finds no tensor, or an
    /// <c>--output-tensor-type</c> for a model whose classifier is the tied embedding, would be silently ignored.
    /// </summary>
    /// <exception cref="ArgumentException">An entry that applies to no tensor; the message names it.</exception>
    public void CheckApplies(IReadOnlyCollection<string> tensorNames)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        foreach (var o in TensorTypes)
            if (!tensorNames.Any(o.Matches))
                throw new ArgumentException($"--tensor-type {o.Pattern}={o.Type}: the pattern matches no tensor of the model (GGUF names such as blk.0.attn_v.weight, blk.3.ffn_down.weight, token_embd.weight)");
        if (OutputTensorType is { } ot && !tensorNames.Contains(LlamaGgufNames.Output))
            throw new ArgumentException($"--output-tensor-type {ot}: the model has no {LlamaGgufNames.Output} (its classifier is the tied token embedding: use --token-embedding-type)");
    }

    /// <summary>For messages and logs: the overrides as they would be written on a command line.</summary>
    public override string ToString() => string.Join(" ",
        TensorTypes.Select(o => $"--tensor-type {o.Pattern}={o.Type}")
            .Concat(TokenEmbeddingType is { } te ? [$"--token-embedding-type {te}"] : [])
            .Concat(OutputTensorType is { } ot ? [$"--output-tensor-type {ot}"] : []));
}
