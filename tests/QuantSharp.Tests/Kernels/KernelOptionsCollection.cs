// Tests that change the process-wide KernelOptions must not run concurrently with each other.
namespace QuantSharp.Tests.Kernels;

/// <summary>xunit collection serialising every test that sets KernelOptions.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelOptionsCollection
{
    public const string Name = "KernelOptions";
}

/// <summary>Sets ISA and threads for a scope and restores the previous values.</summary>
internal readonly struct KernelScope : IDisposable
{
    private readonly QuantSharp.Core.Kernels.KernelIsa _isa;
    private readonly int _threads;

    public KernelScope(QuantSharp.Core.Kernels.KernelIsa isa, int threads)
    {
        _isa = QuantSharp.Core.Kernels.KernelOptions.Isa;
        _threads = QuantSharp.Core.Kernels.KernelOptions.Threads;
        QuantSharp.Core.Kernels.KernelOptions.Isa = isa;
        QuantSharp.Core.Kernels.KernelOptions.Threads = threads;
    }

    public void Dispose()
    {
        QuantSharp.Core.Kernels.KernelOptions.Isa = _isa;
        QuantSharp.Core.Kernels.KernelOptions.Threads = _threads;
    }
}
