// Parallel.For for loops outside the inference hot path whose bodies must run under the caller's KernelOptions scope.
namespace QuantSharp.Core.Kernels;

/// <summary>
/// <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> whose bodies see the calling thread's
/// <see cref="KernelOptions.Use(ExecutionOptions)"/> scope. A bare Parallel.For runs its bodies on thread-pool threads,
/// which have no scope of their own and so read the process-wide ISA and int8 GEMM switch; here each body installs the
/// caller's scope for its duration (and restores the thread's own afterwards), and the loop's degree of parallelism is
/// the scope's <see cref="KernelOptions.Threads"/>. Used by the quantizers' row and tile loops; the decode hot path uses
/// <see cref="WorkerPool"/>, which carries the scope the same way.
/// </summary>
/// <remarks>
/// Exceptions surface as from Parallel.For (wrapped in <see cref="AggregateException"/>). Results are those of the
/// bodies: the helper adds no ordering, so a loop is deterministic exactly when its items write disjoint outputs.
/// </remarks>
public static class ScopedParallel
{
    /// <summary>
    /// Runs <paramref name="body"/> for each index in [<paramref name="fromInclusive"/>, <paramref name="toExclusive"/>)
    /// under the caller's kernel scope, on at most <paramref name="maxThreads"/> threads (0 = the scope's
    /// <see cref="KernelOptions.Threads"/>).
    /// </summary>
    public static void For(int fromInclusive, int toExclusive, Action<int> body, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(body);
        object? scope = KernelOptions.CaptureScope();
        Parallel.For(fromInclusive, toExclusive, OptionsFor(maxThreads), i =>
        {
            // Restored per item rather than per worker: the caller's own thread also runs items, and a pool thread
            // must not keep the scope once this loop has let go of it.
            var previous = KernelOptions.RestoreScope(scope);
            try { body(i); }
            finally { KernelOptions.RestoreScope(previous); }
        });
    }

    /// <summary>
    /// <see cref="For(int, int, Action{int}, int)"/> with per-worker state: <paramref name="localInit"/> makes one
    /// <typeparamref name="TLocal"/> (scratch buffers) per worker, handed to every body that worker runs.
    /// </summary>
    public static void For<TLocal>(int fromInclusive, int toExclusive, Func<TLocal> localInit, Action<int, TLocal> body, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(localInit);
        ArgumentNullException.ThrowIfNull(body);
        object? scope = KernelOptions.CaptureScope();
        Parallel.For(fromInclusive, toExclusive, OptionsFor(maxThreads), localInit, (i, _, local) =>
        {
            var previous = KernelOptions.RestoreScope(scope);
            try { body(i, local); }
            finally { KernelOptions.RestoreScope(previous); }
            return local;
        }, _ => { });
    }

    // The scope's cached options when no explicit cap is given: no allocation per call.
    private static ParallelOptions OptionsFor(int maxThreads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxThreads);
        return maxThreads == 0 ? KernelOptions.Parallel : new ParallelOptions { MaxDegreeOfParallelism = maxThreads };
    }
}
