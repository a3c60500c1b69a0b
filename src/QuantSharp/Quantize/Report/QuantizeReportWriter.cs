// Writes a quantization report folder: report.json (per tensor and run totals) and, through a renderer, charts of the errors by layer.
using System.Text.Json;
using QuantSharp.Core.IO;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Reporting;

namespace QuantSharp;

/// <summary>What a report says about the run as a whole.</summary>
internal sealed record QuantizeReportRun
{
    public required string Method { get; init; }
    public string? Format { get; init; }
    public required string Description { get; init; }
    public required string Model { get; init; }
    public required string Output { get; init; }
    public required long OutputBytes { get; init; }
    public required TimeSpan LoadTime { get; init; }
    public TimeSpan RotationTime { get; init; }
    public required TimeSpan CalibrationTime { get; init; }
    public required TimeSpan RunTime { get; init; }
    public string? Calibration { get; init; }
    public RotationRecord? Rotation { get; init; }
}

/// <summary>
/// Writes <see cref="JsonFile"/> and the charts (when a renderer is given) into a temporary folder beside the
/// destination and renames it into place; a previous report there (only report files, <see cref="QuantizeReportDirectory"/>)
/// is replaced.
/// </summary>
internal static class QuantizeReportWriter
{
    public const string JsonFile = "report.json";
    public const string WeightChartFile = "weight-error-by-layer.png";
    public const string OutputChartFile = "output-error-by-layer.png";

    /// <summary>What <c>outputError</c> means, written into the JSON next to the values.</summary>
    public const string OutputErrorDefinition =
        "||X (W - Wq)^T||_F / ||X W^T||_F over the calibration inputs X this linear received in the run (sequential mode: the outputs of the already quantized layers), computed exactly from sum x x^T";

    public static void Write(string directory, QuantizeReportRun run, IReadOnlyList<TensorQuantizationRecord> tensors,
        IReadOnlyList<(string Name, string Kind, int? Layer, string Type, long[] Shape)> floats, IQuantizeReportChartRenderer? charts)
    {
        string target = Path.TrimEndingDirectorySeparator(AtomicFile.CanonicalPath(directory));
        Directory.CreateDirectory(Path.GetDirectoryName(target) ?? ".");
        AtomicFile.SweepStale(target);
        string tmp = AtomicFile.TempPathFor(target);
        Directory.CreateDirectory(tmp);
        try
        {
            File.WriteAllBytes(Path.Combine(tmp, JsonFile), Json(run, tensors, floats));
            if (charts != null)
            {
                charts.RenderPng(Chart(tensors, t => t.WeightError, "Relative weight error ||W - Wq||_F / ||W||_F by layer"), Path.Combine(tmp, WeightChartFile));
                if (tensors.Any(t => t.OutputError != null))
                    charts.RenderPng(Chart(tensors, t => t.OutputError, "Relative output error on calibration data by layer"), Path.Combine(tmp, OutputChartFile));
            }
            string? old = null;
            if (Directory.Exists(target))
            {
                // Only a previous report can be here (checked before the run): moved aside, replaced, then deleted.
                old = AtomicFile.TempPathFor(target);
                Directory.Move(target, old);
            }
            Directory.Move(tmp, target);
            if (old != null) Directory.Delete(old, recursive: true);
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    private static byte[] Json(QuantizeReportRun run, IReadOnlyList<TensorQuantizationRecord> tensors,
        IReadOnlyList<(string Name, string Kind, int? Layer, string Type, long[] Shape)> floats)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("method", run.Method);
            if (run.Format != null) w.WriteString("format", run.Format);
            w.WriteString("description", run.Description);
            w.WriteString("model", run.Model);
            w.WriteString("output", run.Output);
            w.WriteNumber("outputBytes", run.OutputBytes);
            if (run.Calibration != null) w.WriteString("calibration", run.Calibration);
            // The rotation fused into the output's weights, as the output records it; null: not rotated.
            w.WritePropertyName("rotation");
            if (run.Rotation is { } rotation) rotation.ToJson().WriteTo(w); else w.WriteNullValue();
            long weights = tensors.Sum(t => (long)t.Rows * t.Columns);
            double bits = tensors.Sum(t => t.BitsPerWeight * t.Rows * t.Columns);
            w.WriteNumber("quantizedTensors", tensors.Count);
            w.WriteNumber("quantizedWeights", weights);
            w.WriteNumber("bitsPerWeight", weights > 0 ? bits / weights : 0);
            w.WriteStartObject("seconds");
            w.WriteNumber("load", run.LoadTime.TotalSeconds);
            w.WriteNumber("rotation", run.RotationTime.TotalSeconds);
            w.WriteNumber("calibrationText", run.CalibrationTime.TotalSeconds);
            w.WriteNumber("run", run.RunTime.TotalSeconds);
            w.WriteNumber("quantizers", tensors.Sum(t => t.Seconds));
            w.WriteNumber("total", (run.LoadTime + run.RotationTime + run.CalibrationTime + run.RunTime).TotalSeconds);
            w.WriteEndObject();
            w.WriteString("weightErrorDefinition", "||W - Wq||_F / ||W||_F of the weights the quantizer received (after any transform such as AWQ's scaling)");
            w.WriteString("outputErrorDefinition", OutputErrorDefinition);
            w.WriteStartArray("tensors");
            foreach (var t in tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                if (t.Layer is { } l) w.WriteNumber("layer", l); else w.WriteNull("layer");
                w.WriteString("kind", t.Kind);
                if (t.Expert is { } e) w.WriteNumber("expert", e);
                w.WriteString("type", t.Type);
                w.WriteStartArray("shape");
                w.WriteNumberValue(t.Rows);
                w.WriteNumberValue(t.Columns);
                w.WriteEndArray();
                w.WriteNumber("bitsPerWeight", t.BitsPerWeight);
                w.WriteNumber("weightError", t.WeightError);
                if (t.OutputError is { } o) w.WriteNumber("outputError", o); else w.WriteNull("outputError");
                w.WriteNumber("seconds", t.Seconds);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("unquantized");
            foreach (var f in floats)
            {
                w.WriteStartObject();
                w.WriteString("name", f.Name);
                if (f.Layer is { } l) w.WriteNumber("layer", l); else w.WriteNull("layer");
                w.WriteString("kind", f.Kind);
                w.WriteString("type", f.Type);
                w.WriteStartArray("shape");
                foreach (var d in f.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    // One line per tensor kind over the decoder layers (experts of a layer averaged); model-level tensors have no layer.
    internal static QuantizeReportChart Chart(IReadOnlyList<TensorQuantizationRecord> tensors, Func<TensorQuantizationRecord, double?> value, string title)
    {
        var series = new List<QuantizeReportChartSeries>();
        foreach (var kind in tensors.Where(t => t.Layer != null && value(t) != null).Select(t => t.Kind).Distinct())
        {
            var points = tensors.Where(t => t.Kind == kind && t.Layer != null && value(t) != null)
                .GroupBy(t => t.Layer!.Value).OrderBy(g => g.Key)
                .Select(g => (X: (double)g.Key, Y: g.Average(t => value(t)!.Value))).ToArray();
            series.Add(new QuantizeReportChartSeries(kind, [.. points.Select(p => p.X)], [.. points.Select(p => p.Y)]));
        }
        return new QuantizeReportChart { Title = title, XLabel = "layer", YLabel = "relative error", Series = series };
    }

    /// <summary>Bytes of the output: a file, or every file of an output folder.</summary>
    public static long OutputBytes(string output) =>
        Directory.Exists(output) ? Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
        : File.Exists(output) ? new FileInfo(output).Length : 0;
}
