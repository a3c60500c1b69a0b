// Shared plumbing of the grids: argument checks, iteration over groups (parallel over rows), dequantization.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Quantization.Grids;

/// <summary>
/// Base of every grid: splits the tensor into its groups (contiguous spans of the row-major data),
/// hands each to <see cref="QuantizeGroup"/>, and reverses it with <see cref="DequantizeGroup"/>.
/// Groups are independent, so rows run in parallel and results do not depend on the thread count.
/// </summary>
public abstract class GroupedGrid : IQuantizationGrid
{
    /// <summary>Creates a grid with the given grouping.</summary>
    protected GroupedGrid(GridGrouping grouping) => Grouping = grouping;

    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <inheritdoc/>
    public abstract int CodeBits { get; }

    /// <inheritdoc/>
    public GridGrouping Grouping { get; }

    /// <summary>Whether the grid stores a zero point per group.</summary>
    protected virtual bool HasZeros => false;

    /// <summary>Quantizes one group: writes its codes and returns its scale (and zero point).</summary>
    protected abstract float QuantizeGroup(ReadOnlySpan<float> values, Span<byte> codes, out byte zero);

    /// <summary>Dequantizes one group.</summary>
    protected abstract void DequantizeGroup(ReadOnlySpan<byte> codes, float scale, byte zero, Span<float> destination);

    /// <inheritdoc/>
    public abstract double ErrorBound(float value, float scale, byte zero);

    /// <inheritdoc/>
    public GridTensor Quantize(ReadOnlySpan<float> values, int rows, int columns)
    {
        if (rows < 0 || columns < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"{Name}: a {rows} × {columns} tensor has a negative dimension");
        if (values.Length != (long)rows * columns)
            throw new ArgumentException($"{Name}: a {rows} × {columns} tensor has {(long)rows * columns} values, got {values.Length}", nameof(values));
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new ArgumentException($"{Name}: value at row {i / columns}, column {i % columns} is {values[i]}; grids quantize finite values only", nameof(values));
        }
        int groups = values.Length == 0 ? 0 : Grouping.GroupCount(rows, columns);
        var codes = new byte[values.Length];
        var scales = new float[groups];
        var zeros = HasZeros ? new byte[groups] : null;
        if (values.Length > 0)
        {
            if (Grouping.Granularity == GridGranularity.PerTensor)
            {
                scales[0] = QuantizeGroup(values, codes, out byte z);
                if (zeros is not null) zeros[0] = z;
            }
            else
            {
                // Spans cannot cross into the lambda: copy once (quantization reads every value anyway).
                float[] data = values.ToArray();
                int perRow = Grouping.GroupsPerRow(columns);
                int size = Grouping.Granularity == GridGranularity.PerChannel ? columns : Grouping.GroupSize;
                try
                {
                    ScopedParallel.For(0, rows, r =>
                    {
                        for (int k = 0; k < perRow; k++)
                        {
                            int start = r * columns + k * size, length = Math.Min(size, columns - k * size);
                            int g = r * perRow + k;
                            scales[g] = QuantizeGroup(data.AsSpan(start, length), codes.AsSpan(start, length), out byte z);
                            if (zeros is not null) zeros[g] = z;
                        }
                    });
                }
                catch (AggregateException e)
                {
                    // Surface a group's own exception (e.g. an fp32 range overflow) rather than the wrapper.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                }
            }
        }
        return new GridTensor
        {
            Grid = Name, Rows = rows, Columns = columns, Grouping = Grouping, CodeBits = CodeBits,
            Codes = codes, Scales = scales, Zeros = zeros,
        };
    }

    /// <inheritdoc/>
    public void Dequantize(GridTensor tensor, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Grid != Name || tensor.Grouping != Grouping || tensor.CodeBits != CodeBits)
            throw new ArgumentException($"tensor was quantized by {tensor.Grid} ({tensor.Grouping}), not by {Name}", nameof(tensor));
        long count = (long)tensor.Rows * tensor.Columns;
        if (tensor.Codes.Length != count || destination.Length != count)
            throw new ArgumentException($"{Name}: a {tensor.Rows} × {tensor.Columns} tensor needs {count} codes and {count} destination values, got {tensor.Codes.Length} and {destination.Length}", nameof(destination));
        int groups = count == 0 ? 0 : Grouping.GroupCount(tensor.Rows, tensor.Columns);
        if (tensor.Scales.Length != groups || (HasZeros && tensor.Zeros?.Length != groups))
            throw new ArgumentException($"{Name}: expected {groups} scales{(HasZeros ? " and zero points" : "")}, got {tensor.Scales.Length}", nameof(tensor));
        if (count == 0) return;
        if (Grouping.Granularity == GridGranularity.PerTensor)
        {
            DequantizeGroup(tensor.Codes, tensor.Scales[0], tensor.Zeros?[0] ?? 0, destination);
            return;
        }
        int columns = tensor.Columns, perRow = Grouping.GroupsPerRow(columns);
        int size = Grouping.Granularity == GridGranularity.PerChannel ? columns : Grouping.GroupSize;
        for (int r = 0; r < tensor.Rows; r++)
        {
            for (int k = 0; k < perRow; k++)
            {
                int start = r * columns + k * size, length = Math.Min(size, columns - k * size);
                int g = r * perRow + k;
                DequantizeGroup(tensor.Codes.AsSpan(start, length), tensor.Scales[g], tensor.Zeros?[g] ?? 0, destination.Slice(start, length));
            }
        }
    }

    /// <summary>Largest |value| of a group.</summary>
    protected static float AbsMax(ReadOnlySpan<float> values)
    {
        float amax = 0;
        foreach (float v in values) amax = MathF.Max(amax, MathF.Abs(v));
        return amax;
    }
}
