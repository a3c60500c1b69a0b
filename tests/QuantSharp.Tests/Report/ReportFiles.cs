// Reads what a quantization report folder holds: report.json parsed, PNG headers checked, the run's tensor log lines.
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace QuantSharp.Tests.Report;

internal static partial class ReportFiles
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static JsonElement Json(string dir) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json"))).RootElement;

    /// <summary>Checks the PNG signature and the IHDR chunk (first, 13 bytes) and returns its width and height.</summary>
    public static (int Width, int Height) Png(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.True(b.Length > 33, $"{path}: {b.Length} bytes");
        Assert.Equal(PngSignature, b[..8]);
        Assert.Equal(13, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8)));
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(b, 12, 4));
        Assert.EndsWith("IEND\xAE\x42\x60\x82", System.Text.Encoding.Latin1.GetString(b, b.Length - 8, 8));
        return (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20)));
    }

    /// <summary>The run's "tensor NAME (...): TYPE, B bpw, weight error W[, output error O], T ms" lines by name.</summary>
    public static Dictionary<string, (double Weight, double? Output)> LogLines(string log)
    {
        var d = new Dictionary<string, (double, double?)>();
        foreach (Match m in TensorLine().Matches(log))
            d.Add(m.Groups[1].Value, (Parse(m.Groups[2].Value), m.Groups[3].Success ? Parse(m.Groups[3].Value) : null));
        return d;
    }

    private static double Parse(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^tensor (\S+) \([^)]*\): [^,]+, [0-9.]+ bpw, weight error ([^,\s]+)(?:, output error ([^,\s]+))?, [0-9.]+ ms\r?$", RegexOptions.Multiline)]
    private static partial Regex TensorLine();
}
