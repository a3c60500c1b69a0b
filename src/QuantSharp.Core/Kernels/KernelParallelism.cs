// Placeholder (superseded by the kernels branch): degree of parallelism shared by all kernels.
namespace QuantSharp.Core.Kernels;

/// <summary>How many threads kernels use.</summary>
public static class KernelParallelism
{
    /// <summary>Options passed to every Parallel.For in kernels.</summary>
    public static ParallelOptions Options { get; } = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };
}
