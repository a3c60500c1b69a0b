// Two GGUF files compared as llama.cpp reads them: tensors (name, type, shape, bytes) and metadata, besides the raw bytes.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Bench.Quality;

/// <summary>How a file of ours differs from llama.cpp's for the same type.</summary>
/// <param name="FileIdentical">Every byte equal.</param>
/// <param name="TensorsIdentical">Same tensor names, and per name the same type, shape and data bytes.</param>
/// <param name="TensorOrderSame">Tensors listed in the same order.</param>
/// <param name="MetadataOrderSame">Metadata keys in the same order.</param>
/// <param name="MetadataDifferences">Keys only in one file or with different values, e.g. "+general.quantization_version (llama.cpp only)".</param>
internal sealed record GgufFileComparison(bool FileIdentical, bool TensorsIdentical, bool TensorOrderSame, bool MetadataOrderSame, IReadOnlyList<string> MetadataDifferences)
{
    /// <summary>Compares <paramref name="theirs"/> (llama.cpp's) with <paramref name="ours"/>.</summary>
    public static GgufFileComparison Of(string theirs, string ours)
    {
        bool fileIdentical = File.ReadAllBytes(theirs).AsSpan().SequenceEqual(File.ReadAllBytes(ours));
        using var a = new GgufFile(theirs);
        using var b = new GgufFile(ours);
        bool tensors = a.TensorNames.Order(StringComparer.Ordinal).SequenceEqual(b.TensorNames.Order(StringComparer.Ordinal));
        if (tensors)
            foreach (var name in a.TensorNames)
            {
                var x = a.GetInfo(name);
                var y = b.GetInfo(name);
                if (x.Type != y.Type || !x.Dimensions.SequenceEqual(y.Dimensions) || !a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name)))
                {
                    tensors = false;
                    break;
                }
            }
        var differences = new List<string>();
        foreach (var key in a.Metadata.Keys)
            if (!b.Metadata.TryGetValue(key, out var v)) differences.Add($"{key} (llama.cpp only)");
            else if (!a.Metadata[key].Equals(v)) differences.Add($"{key} (llama.cpp {Short(a.Metadata[key])}, ours {Short(v)})");
        foreach (var key in b.Metadata.Keys)
            if (!a.Metadata.ContainsKey(key)) differences.Add($"{key} (ours only)");
        return new GgufFileComparison(fileIdentical, tensors, a.TensorNames.SequenceEqual(b.TensorNames), a.Metadata.Keys.SequenceEqual(b.Metadata.Keys), differences);
    }

    private static string Short(GgufValue v)
    {
        string s = v.ToString();
        return s.Length <= 40 ? s : s[..40] + "…";
    }
}
