// What one chart of a quantization report shows: title, axes and line series, independent of any chart library.
namespace QuantSharp;

/// <summary>A line chart of a quantization report, handed to an <see cref="IQuantizeReportChartRenderer"/>.</summary>
public sealed record QuantizeReportChart
{
    /// <summary>Chart title, e.g. "Relative weight error ||W - Wq||_F / ||W||_F by layer".</summary>
    public required string Title { get; init; }
    /// <summary>Label of the horizontal axis ("layer"); its values are integers.</summary>
    public required string XLabel { get; init; }
    /// <summary>Label of the vertical axis ("relative error").</summary>
    public required string YLabel { get; init; }
    /// <summary>The lines, one per tensor kind, in the order the legend lists them.</summary>
    public required IReadOnlyList<QuantizeReportChartSeries> Series { get; init; }
    /// <summary>Image width in pixels (900 for the report's charts).</summary>
    public int Width { get; init; } = 900;
    /// <summary>Image height in pixels (540 for the report's charts).</summary>
    public int Height { get; init; } = 540;
}

/// <summary>One line of a <see cref="QuantizeReportChart"/>: points (X[i], Y[i]) in increasing X.</summary>
/// <param name="Label">Legend text (the tensor kind, e.g. attn_q).</param>
/// <param name="X">Horizontal values (decoder layer indices).</param>
/// <param name="Y">Vertical values (the layer's error; experts of a layer averaged), as long as <paramref name="X"/>.</param>
public sealed record QuantizeReportChartSeries(string Label, IReadOnlyList<double> X, IReadOnlyList<double> Y);
