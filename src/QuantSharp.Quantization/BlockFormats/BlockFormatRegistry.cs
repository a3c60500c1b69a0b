// Looks up the block format implementation for a DType.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>All block formats QuantSharp implements, by type.</summary>
public static class BlockFormatRegistry
{
    private static readonly Dictionary<DType, IBlockFormat> Formats = new();

    /// <summary>Registers an implementation (called by each format's static constructor list below).</summary>
    private static void Add(IBlockFormat f) => Formats[f.Type] = f;

    static BlockFormatRegistry()
    {
        // Implementations register here, one line each.
        Add(new Q2_KFormat());
        Add(new Q3_KFormat());
        Add(new Q4_KFormat());
        Add(new Q5_KFormat());
        Add(new Q6_KFormat());
        Add(new Q8_KFormat());
        Add(new Q4_0Format());
        Add(new Q4_1Format());
        Add(new Q5_0Format());
        Add(new Q5_1Format());
        Add(new Q8_0Format());
        Add(new Iq4NlFormat());
        Add(new Iq4XsFormat());
        Add(new Mxfp4Format());
    }

    /// <summary>The implementation for <paramref name="type"/>.</summary>
    public static IBlockFormat Get(DType type) =>
        Formats.TryGetValue(type, out var f) ? f : throw new NotSupportedException($"block format {type} is not implemented");

    /// <summary>Whether <paramref name="type"/> is implemented.</summary>
    public static bool IsSupported(DType type) => Formats.ContainsKey(type);

    /// <summary>Every implemented format.</summary>
    public static IEnumerable<IBlockFormat> All => Formats.Values;
}
