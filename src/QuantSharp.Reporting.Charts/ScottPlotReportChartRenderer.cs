// Draws a quantization report's line charts (error by layer, one line per tensor kind) as PNGs with ScottPlot.
namespace QuantSharp.Reporting.Charts;

/// <summary>
/// The <see cref="IQuantizeReportChartRenderer"/> of <c>quantsharp quantize --report</c>: each chart a ScottPlot line
/// plot with integer ticks on the layer axis and the legend on the right. Stateless; one instance may serve any number
/// of runs, also concurrently.
/// </summary>
public sealed class ScottPlotReportChartRenderer : IQuantizeReportChartRenderer
{
    /// <inheritdoc/>
    public void RenderPng(QuantizeReportChart chart, string path)
    {
        ArgumentNullException.ThrowIfNull(chart);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var plot = new ScottPlot.Plot();
        foreach (var series in chart.Series)
        {
            if (series.X.Count != series.Y.Count)
                throw new ArgumentException($"chart '{chart.Title}', series '{series.Label}': {series.X.Count} X values but {series.Y.Count} Y values");
            var line = plot.Add.Scatter(series.X.ToArray(), series.Y.ToArray());
            line.LegendText = series.Label;
        }
        plot.Title(chart.Title);
        plot.XLabel(chart.XLabel);
        plot.YLabel(chart.YLabel);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(ScottPlot.Edge.Right);
        plot.SavePng(path, chart.Width, chart.Height);
    }
}
