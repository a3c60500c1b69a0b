// Parses the JSON files of model folders strictly: valid UTF-8, no duplicate keys, errors naming the file.
using System.Text.Json;
using System.Text.Unicode;

namespace QuantSharp.Formats;

/// <summary>
/// One way to read config.json, safetensors headers, index files and quantization configs so that
/// every malformed input is an <see cref="InvalidDataException"/> naming the file. System.Text.Json
/// accepts invalid UTF-8 inside strings and only fails later, in GetString, with an
/// <see cref="InvalidOperationException"/> that names nothing; and it accepts duplicate keys, where
/// which one wins differs between readers (Python keeps the last, TryGetProperty finds the first).
/// </summary>
public static class StrictJson
{
    /// <summary>
    /// Parses <paramref name="utf8"/> as a JSON document. Invalid UTF-8 (the byte offset is given),
    /// duplicate keys in an object and JSON syntax errors throw <see cref="InvalidDataException"/>
    /// whose message starts with <paramref name="path"/>.
    /// </summary>
    /// <param name="path">The file (or "file: part") named in errors.</param>
    /// <param name="utf8">The bytes.</param>
    /// <param name="maxDepth">Nesting limit (0 = System.Text.Json's default of 64).</param>
    /// <param name="allowTrailingCommas">Accept a comma before a closing bracket.</param>
    public static JsonDocument Parse(string path, ReadOnlyMemory<byte> utf8, int maxDepth = 0, bool allowTrailingCommas = false)
    {
        var span = utf8.Span;
        // A UTF-8 byte order mark is tolerated, as Python's json and transformers tolerate it.
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) { utf8 = utf8[3..]; span = utf8.Span; }
        if (!Utf8.IsValid(span))
            throw new InvalidDataException($"{path}: not valid UTF-8 (first bad byte at offset {FirstInvalidUtf8(span)}); JSON must be UTF-8");
        try
        {
            return JsonDocument.Parse(utf8, new JsonDocumentOptions
            {
                MaxDepth = maxDepth,
                AllowTrailingCommas = allowTrailingCommas,
                AllowDuplicateProperties = false,
            });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Reads and parses the file <paramref name="path"/> (see <see cref="Parse"/>).</summary>
    public static JsonDocument ParseFile(string path, int maxDepth = 0, bool allowTrailingCommas = false)
        => Parse(path, File.ReadAllBytes(path), maxDepth, allowTrailingCommas);

    // Only runs for a file already rejected, so a plain rune-by-rune walk is fine.
    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int n) != System.Buffers.OperationStatus.Done) return i;
            i += n;
        }
        return i;
    }
}
