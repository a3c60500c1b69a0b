// The rules for a quantization report's folder (--report DIR): never an input or the output, and never someone else's files.
using QuantSharp.Core.IO;

namespace QuantSharp;

/// <summary>
/// Checks the folder a report goes to. It may not exist, be empty, or hold only a previous report's files
/// (<see cref="ReportFiles"/>), which the new report replaces as a whole. It may not be a file, the input model folder
/// or inside it, the output or inside it, contain the output, or contain any input.
/// </summary>
internal static class QuantizeReportDirectory
{
    /// <summary>The files a report consists of (and the only entries a reused report folder may hold).</summary>
    public static readonly string[] ReportFiles = [QuantizeReportWriter.JsonFile, QuantizeReportWriter.WeightChartFile, QuantizeReportWriter.OutputChartFile];

    /// <summary>Throws <see cref="QuantizeRequestException"/> (option <c>--report</c>) when <paramref name="directory"/> breaks a rule; returns its canonical path.</summary>
    public static string Check(string directory, string model, string output, IEnumerable<string?> inputs)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw Error("the report folder path is empty");
        string target = Canonical(directory);
        if (File.Exists(target)) throw Error($"{directory} is a file; the report is a folder (report.json and PNG charts)");
        string modelPath = Canonical(model);
        if (Directory.Exists(modelPath) && (target == modelPath || Inside(target, modelPath)))
            throw Error($"{directory} is {(target == modelPath ? "" : "inside ")}the input model folder {model}; choose a folder of its own");
        string outputPath = Canonical(output);
        if (target == outputPath) throw Error($"{directory} is the output path; choose a folder of its own for the report");
        if (Inside(target, outputPath)) throw Error($"{directory} is inside the output {output}; choose a folder of its own for the report");
        if (Inside(outputPath, target)) throw Error($"the output {output} would be written inside the report folder {directory}; choose a folder of its own for the report");
        foreach (var input in inputs)
            if (!string.IsNullOrEmpty(input) && Inside(Canonical(input), target))
                throw Error($"{directory} contains the input {input}; choose a folder of its own for the report");
        if (Directory.Exists(target))
            foreach (var entry in Directory.EnumerateFileSystemEntries(target))
            {
                string name = Path.GetFileName(entry);
                if (!File.Exists(entry) || Array.IndexOf(ReportFiles, name) < 0)
                    throw Error($"{directory} exists and holds '{name}', which is not part of a previous report ({string.Join(", ", ReportFiles)}); choose an empty or new folder");
            }
        return target;
    }

    private static string Canonical(string path) => Path.TrimEndingDirectorySeparator(AtomicFile.CanonicalPath(path));

    private static bool Inside(string path, string folder) => path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static QuantizeRequestException Error(string why) => new("--report", nameof(QuantizeRequest.ReportDirectory), why);
}
