// Which values of a [rows × columns] tensor share one scale (and zero point): tensor, row or group of columns.
namespace QuantSharp.Quantization.Grids;

/// <summary>How finely a grid's scales are shared.</summary>
public enum GridGranularity
{
    /// <summary>One scale for the whole tensor.</summary>
    PerTensor,
    /// <summary>One scale per row (output channel of a row-major nn.Linear weight).</summary>
    PerChannel,
    /// <summary>One scale per run of <see cref="GridGrouping.GroupSize"/> consecutive columns of a row.</summary>
    PerGroup,
}

/// <summary>
/// The grouping of a quantized tensor. Groups are numbered row-major: per-group, group k of row r
/// is r·GroupsPerRow + k and covers columns [k·GroupSize, min((k + 1)·GroupSize, columns)); a row
/// whose length is not a multiple of the group size ends with a shorter group.
/// </summary>
public readonly record struct GridGrouping
{
    /// <summary>The granularity.</summary>
    public GridGranularity Granularity { get; }

    /// <summary>Columns per group (per-group only; 0 otherwise).</summary>
    public int GroupSize { get; }

    private GridGrouping(GridGranularity granularity, int groupSize)
    {
        Granularity = granularity;
        GroupSize = groupSize;
    }

    /// <summary>One scale for the whole tensor.</summary>
    public static GridGrouping PerTensor => new(GridGranularity.PerTensor, 0);

    /// <summary>One scale per row.</summary>
    public static GridGrouping PerChannel => new(GridGranularity.PerChannel, 0);

    /// <summary>One scale per <paramref name="groupSize"/> consecutive columns of a row (any size ≥ 1).</summary>
    public static GridGrouping PerGroup(int groupSize) =>
        groupSize >= 1
            ? new(GridGranularity.PerGroup, groupSize)
            : throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "group size must be at least 1");

    /// <summary>Groups in one row of <paramref name="columns"/> values (per-tensor: 0, the tensor is one group).</summary>
    public int GroupsPerRow(int columns) => Granularity switch
    {
        GridGranularity.PerTensor => 0,
        GridGranularity.PerChannel => 1,
        _ => (columns + GroupSize - 1) / GroupSize,
    };

    /// <summary>Number of groups (scales) of a [rows × columns] tensor.</summary>
    public int GroupCount(int rows, int columns) =>
        Granularity == GridGranularity.PerTensor ? 1 : checked(rows * GroupsPerRow(columns));

    /// <summary>The group holding element (row, column).</summary>
    public int GroupOf(int row, int column, int columns) => Granularity switch
    {
        GridGranularity.PerTensor => 0,
        GridGranularity.PerChannel => row,
        _ => row * GroupsPerRow(columns) + column / GroupSize,
    };

    /// <inheritdoc/>
    public override string ToString() => Granularity switch
    {
        GridGranularity.PerTensor => "per-tensor",
        GridGranularity.PerChannel => "per-channel",
        _ => $"group {GroupSize}",
    };
}
