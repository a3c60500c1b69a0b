// Progress of a quantization run as reported to IProgress<QuantizeProgress>.
namespace QuantSharp;

/// <summary>How far a quantization run is: <see cref="Done"/> of <see cref="Total"/> steps (layers or tensors).</summary>
/// <param name="Done">Steps finished.</param>
/// <param name="Total">Steps in the run (0 while unknown).</param>
public readonly record struct QuantizeProgress(int Done, int Total);
