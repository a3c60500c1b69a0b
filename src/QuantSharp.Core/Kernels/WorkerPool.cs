// Persistent kernel threads: spin-then-sleep workers that run the items of one parallel call.
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Replaces Parallel.For on the inference hot path. A decode step makes ~60 small parallel calls
/// of a few to a few hundred µs each; waking thread-pool workers costs several µs per call, so
/// these workers stay alive, spin for a short while after each call (catching the next one with
/// a memory read rather than a kernel wake-up) and only then block on a semaphore.
/// Items are claimed dynamically (an interlocked counter), which balances load on a busy machine;
/// callers make every item's result independent of which thread runs it, so output does not depend
/// on scheduling. One call runs at a time: a call that arrives while the pool is busy (another
/// thread, or a nested call from inside an item) runs all its items on its own thread. No allocation
/// per call.
/// </summary>
public static class WorkerPool
{
    /// <summary>How long an idle worker polls for the next call before it blocks.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000; // 100 µs

    private static int s_busy; // 1 while a call owns the workers (not a Lock: that would let the same thread re-enter)
    private static Worker[] s_workers = [];

    // The call in progress (written by the caller before workers are released).
    private static Action<int>? s_body;
    private static int s_items;
    private static int s_next;
    private static int s_running;
    private static ExceptionDispatchInfo? s_error;
    private static object? s_scope; // the caller's KernelOptions.Use scope, installed on each helper for the call

    /// <summary>
    /// Runs <paramref name="body"/>(i) for every i in [0, <paramref name="items"/>) on up to
    /// <paramref name="threads"/> threads, the caller included, and returns when all are done.
    /// The first exception thrown by an item is rethrown here after every worker has stopped.
    /// </summary>
    public static void Run(int items, int threads, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (items <= 0) return;
        int helpers = Math.Min(threads, items) - 1;
        if (helpers <= 0 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            for (int i = 0; i < items; i++) body(i);
            return;
        }
        try
        {
            EnsureWorkers(helpers);
            s_body = body;
            s_items = items;
            s_error = null;
            s_scope = KernelOptions.CaptureScope();
            Volatile.Write(ref s_next, 0);
            Volatile.Write(ref s_running, helpers);
            for (int w = 0; w < helpers; w++) s_workers[w].Release();
            Drain();
            // Wait for the helpers; each finishes its last item and decrements.
            var spin = new SpinWait();
            while (Volatile.Read(ref s_running) != 0) spin.SpinOnce(sleep1Threshold: -1);
            s_body = null;
            s_scope = null;
            s_error?.Throw();
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
    }

    /// <summary>Claims and runs items until none are left.</summary>
    private static void Drain()
    {
        var body = s_body!;
        int items = s_items;
        for (int i = Interlocked.Increment(ref s_next) - 1; i < items; i = Interlocked.Increment(ref s_next) - 1)
        {
            try
            {
                body(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref s_error, ExceptionDispatchInfo.Capture(e), null);
                Volatile.Write(ref s_next, items); // stop handing out work
            }
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (s_workers.Length >= count) return;
        var grown = new Worker[count];
        s_workers.CopyTo(grown, 0);
        for (int i = s_workers.Length; i < count; i++) grown[i] = new Worker(i);
        s_workers = grown;
    }

    /// <summary>One persistent thread with its own release counter and wake-up semaphore.</summary>
    private sealed class Worker
    {
        private readonly SemaphoreSlim _wake = new(0);
        private int _generation;   // bumped by the caller for each call this worker joins
        private int _sleeping;     // 1 while the worker is (about to be) blocked on _wake

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"QuantSharp kernel worker {index + 1}" };
            thread.Start();
        }

        public void Release()
        {
            Interlocked.Increment(ref _generation);
            if (Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
        }

        private void Loop()
        {
            int seen = 0;
            while (true)
            {
                seen = WaitForCall(seen);
                // Items read the caller's threads/ISA (KernelOptions.Use), not whatever this thread last saw.
                var previous = KernelOptions.RestoreScope(s_scope);
                Drain();
                KernelOptions.RestoreScope(previous);
                Interlocked.Decrement(ref s_running);
            }
        }

        private int WaitForCall(int seen)
        {
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            int spins = 0;
            while (true)
            {
                int g = Volatile.Read(ref _generation);
                if (g != seen) return g;
                if (++spins < 64) { Thread.SpinWait(8); continue; }
                spins = 0;
                if (Stopwatch.GetTimestamp() < deadline) { Thread.Yield(); continue; }
                // A full fence (not Volatile.Write): x86 may let a plain store pass the following load, so
                // the caller could bump the generation, read _sleeping as 0 and skip the release while
                // this thread still read the old generation and then blocked for ever (seen as a hang).
                Interlocked.Exchange(ref _sleeping, 1);
                g = Volatile.Read(ref _generation);
                if (g != seen)
                {
                    // A call arrived meanwhile: if the caller already took the sleeping flag it
                    // has released the semaphore once, which must be consumed now.
                    if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 0) _wake.Wait();
                    return g;
                }
                _wake.Wait();
                deadline = Stopwatch.GetTimestamp() + SpinTicks;
            }
        }
    }
}
