// What GPTQ's column sweep asks of a quantization grid: group parameters on demand, then one value at a time.
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// The grid a GPTQ sweep rounds onto. Positions are in sweep order (after any act-order
/// permutation). Calls for different rows may come from different threads at once; calls for one
/// row come from one thread, in increasing position.
/// </summary>
internal interface IColumnGrid
{
    /// <summary>
    /// Positions per group whose parameters are chosen when the sweep reaches the group's first
    /// position (<see cref="BeginGroup"/>); 0 when the parameters are all fixed before the sweep.
    /// </summary>
    int GroupSize { get; }

    /// <summary>
    /// Chooses row <paramref name="row"/>'s parameters for the group starting at
    /// <paramref name="position"/> from the row's current (error-updated) values of that group.
    /// </summary>
    void BeginGroup(int row, int position, ReadOnlySpan<double> values);

    /// <summary>Rounds row <paramref name="row"/>'s value at <paramref name="position"/> and returns the value it stands for.</summary>
    double Round(int row, int position, double value);
}
