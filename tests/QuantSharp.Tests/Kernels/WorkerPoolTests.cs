// The persistent kernel worker pool: every item exactly once, errors surface, re-entrant and concurrent calls.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Tests.Kernels;

// Not in parallel with other tests: the pool serves one call at a time, and a call that finds it busy
// (another test's MatMul) runs every item on the caller's thread, which UsesMoreThanOneThreadWhenAsked
// would read as a missing worker (it failed so once in a full run).
[Collection(KernelOptionsCollection.Name)]
public sealed class WorkerPoolTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 4)]
    [InlineData(7, 2)]
    [InlineData(1000, 2)]
    [InlineData(1000, 3)]
    [InlineData(64, 16)]
    public void RunsEveryItemExactlyOnce(int items, int threads)
    {
        for (int round = 0; round < 50; round++)
        {
            var hits = new int[items];
            WorkerPool.Run(items, threads, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void UsesMoreThanOneThreadWhenAsked()
    {
        // Items that wait for each other can only finish if two threads run them at once.
        using var both = new Barrier(2);
        WorkerPool.Run(2, 2, _ => Assert.True(both.SignalAndWait(TimeSpan.FromSeconds(30)), "second worker never arrived"));
    }

    [Fact]
    public void ItemExceptionIsRethrownAfterAllWorkersStop()
    {
        int done = 0;
        var e = Assert.Throws<InvalidOperationException>(() => WorkerPool.Run(100, 2, i =>
        {
            if (i == 37) throw new InvalidOperationException("item 37 failed");
            Interlocked.Increment(ref done);
        }));
        Assert.Equal("item 37 failed", e.Message);
        // The pool is usable afterwards.
        var hits = new int[10];
        WorkerPool.Run(10, 2, i => hits[i]++);
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public async Task NestedAndConcurrentCallsComplete()
    {
        var total = new long[1];
        var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int r = 0; r < 20; r++)
                WorkerPool.Run(8, 2, i => WorkerPool.Run(5, 2, j => Interlocked.Add(ref total[0], i * 5 + j)));
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(4 * 20 * Enumerable.Range(0, 40).Sum(), total[0]);
    }

    /// <summary>
    /// Calls separated by gaps around the workers' spin window (100 µs), so they keep going to sleep
    /// just as the next call arrives: a lost wake-up there hung a whole perplexity run once.
    /// </summary>
    [Fact]
    public async Task CallsAtTheSpinWindowEdgeNeverLoseAWakeUp()
    {
        var run = Task.Run(() =>
        {
            long total = 0;
            for (int call = 0; call < 3000; call++)
            {
                long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency * (60 + call % 90) / 1_000_000;
                while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline) Thread.SpinWait(10);
                WorkerPool.Run(4, 2, i => Interlocked.Add(ref total, i + 1));
            }
            return total;
        });
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromMinutes(2)));
        Assert.True(finished == run, "a WorkerPool call did not return (lost wake-up)");
        Assert.Equal(3000L * 10, await run);
    }
}
