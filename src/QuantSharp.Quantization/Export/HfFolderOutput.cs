// Assembling an output Hugging Face folder beside its destination: checks, temporary folder, source files copied, rename.
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Core.IO;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// The folder side of a Hugging Face export: refuses the input folder, a file and a non-empty destination; lets the
/// caller write its files into a temporary folder <c>&lt;name&gt;.tmp-&lt;pid&gt;-&lt;guid&gt;</c> beside the destination;
/// copies every other file of the source (tokenizer, generation config) that the caller did not write and that is
/// not weights or config; renames the folder into place when complete and removes it on error or cancellation.
/// </summary>
public static class HfFolderOutput
{
    /// <summary>Source files an export replaces rather than copies (weights, their index, config files).</summary>
    public static bool ReplacedByExport(string fileName) =>
        fileName.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || fileName.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)
        || fileName is "config.json" or "model.safetensors.index.json" or "quantize_config.json" or "pytorch_model.bin.index.json";

    /// <summary>The source's config.json as a JSON object (clear errors naming the file).</summary>
    public static JsonObject ReadConfig(string sourceFolder)
    {
        string path = Path.Combine(sourceFolder, "config.json");
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex); }
    }

    /// <summary>
    /// Throws a clear error when <paramref name="sourceFolder"/> is not a Hugging Face folder or <paramref name="outputFolder"/>
    /// is the source, a file or a non-empty folder; returns the destination with links resolved. Call it before a long
    /// computation so that a bad destination fails at once.
    /// </summary>
    public static string CheckDestination(string sourceFolder, string outputFolder)
    {
        if (!File.Exists(Path.Combine(sourceFolder, "config.json")))
            throw new NotSupportedException($"{sourceFolder}: not a Hugging Face model folder (no config.json)");
        string target = Path.TrimEndingDirectorySeparator(AtomicFile.CanonicalPath(outputFolder));
        if (string.Equals(target, Path.TrimEndingDirectorySeparator(AtomicFile.CanonicalPath(sourceFolder)), StringComparison.Ordinal))
            throw new IOException($"refusing to write {outputFolder}: it is the input model folder");
        if (File.Exists(target)) throw new IOException($"{outputFolder} exists and is a file; the output is a folder");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new IOException($"{outputFolder} exists and is not empty; choose a new folder");
        return target;
    }

    /// <summary>Checks the destination, runs <paramref name="writeInto"/> on a temporary folder, copies the rest of the source, renames.</summary>
    public static void Write(string sourceFolder, string outputFolder, Action<string> writeInto, CancellationToken cancellationToken = default)
    {
        string target = CheckDestination(sourceFolder, outputFolder);
        Directory.CreateDirectory(Path.GetDirectoryName(target) ?? ".");
        // Folders left by a killed run (kill -9 skips every cleanup) are recognised by their dead pid and removed.
        AtomicFile.SweepStale(target);
        string tmp = AtomicFile.TempPathFor(target);
        Directory.CreateDirectory(tmp);
        try
        {
            writeInto(tmp);
            foreach (var f in Directory.GetFiles(sourceFolder))
            {
                string name = Path.GetFileName(f);
                string copy = Path.Combine(tmp, name);
                if (ReplacedByExport(name) || File.Exists(copy)) continue;
                File.Copy(f, copy);
                // The source may be read-only (a shared model store); the output belongs to the user.
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (Directory.Exists(target)) Directory.Delete(target); // empty, checked above
            Directory.Move(tmp, target);
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
