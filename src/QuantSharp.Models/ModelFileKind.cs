// Recognises model files by their first bytes, not their names.
namespace QuantSharp.Models;

/// <summary>Sniffs file formats from magic numbers.</summary>
public static class ModelFileKind
{
    /// <summary>Whether the file starts with the GGUF magic.</summary>
    public static bool IsGguf(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return f.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
    }
}
