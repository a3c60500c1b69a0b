// The seam between the quantization report and a chart library: the report says what to draw, a renderer draws it.
namespace QuantSharp;

/// <summary>
/// Draws the PNG charts of a quantization report (<see cref="QuantizeRequest.ReportCharts"/>). The library computes
/// every chart's series (errors by layer, one line per tensor kind) and hands them here, so it needs no chart library
/// of its own; the <c>QuantSharp.Reporting.Charts</c> package implements this with ScottPlot (and is what
/// <c>quantsharp quantize --report</c> uses). Without a renderer a report is report.json only.
/// </summary>
public interface IQuantizeReportChartRenderer
{
    /// <summary>
    /// Writes <paramref name="chart"/> as a PNG of <see cref="QuantizeReportChart.Width"/> × <see cref="QuantizeReportChart.Height"/>
    /// pixels to <paramref name="path"/> (a file in the report's temporary folder; it does not exist yet). Called on the
    /// quantizing thread after the output is written; an exception fails the report (the output stays).
    /// </summary>
    void RenderPng(QuantizeReportChart chart, string path);
}
