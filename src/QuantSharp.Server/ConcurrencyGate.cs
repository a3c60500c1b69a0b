// Bounded concurrency: N generations at once, a bounded queue behind them, and an immediate "no" beyond that.
namespace QuantSharp.Server;

/// <summary>
/// Admits at most <c>maxConcurrent + queueLength</c> requests at a time: <see cref="TryEnterAsync"/> returns null at
/// once when that many are already in (the server answers 503), otherwise waits for one of the
/// <c>maxConcurrent</c> slots. A waiter whose client goes away leaves the queue, and a disposed lease frees its slot,
/// so no request is ever counted twice or lost.
/// </summary>
public sealed class ConcurrencyGate : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly int _capacity;
    private int _admitted; // running + queued
    private int _running;

    /// <summary>Creates a gate.</summary>
    /// <param name="maxConcurrent">Generations that run at once (≥ 1).</param>
    /// <param name="queueLength">Requests that may wait for a slot (≥ 0).</param>
    public ConcurrencyGate(int maxConcurrent, int queueLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrent, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(queueLength);
        _slots = new SemaphoreSlim(maxConcurrent, maxConcurrent);
        _capacity = checked(maxConcurrent + queueLength);
        MaxConcurrent = maxConcurrent;
        QueueLength = queueLength;
    }

    /// <summary>Generations that run at once.</summary>
    public int MaxConcurrent { get; }

    /// <summary>Requests that may wait.</summary>
    public int QueueLength { get; }

    /// <summary>Requests holding a slot now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Requests waiting for a slot now.</summary>
    public int Queued => Math.Max(0, Volatile.Read(ref _admitted) - Volatile.Read(ref _running));

    /// <summary>
    /// A slot, after waiting in the queue if needed; null (at once) when the slots and the queue are full.
    /// Throws <see cref="OperationCanceledException"/> (and leaves the queue) when <paramref name="cancellationToken"/> fires while waiting.
    /// </summary>
    /// <param name="cancellationToken">The client's request-aborted token.</param>
    public async Task<IDisposable?> TryEnterAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int n = Volatile.Read(ref _admitted);
            if (n >= _capacity) return null;
            if (Interlocked.CompareExchange(ref _admitted, n + 1, n) == n) break;
        }
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _admitted);
            throw;
        }
        Interlocked.Increment(ref _running);
        return new Lease(this);
    }

    /// <summary>Releases the semaphore.</summary>
    public void Dispose() => _slots.Dispose();

    private void Release()
    {
        Interlocked.Decrement(ref _running);
        // Slot first, then the admission count: a newcomer admitted in between finds the slot free.
        _slots.Release();
        Interlocked.Decrement(ref _admitted);
    }

    private sealed class Lease(ConcurrencyGate gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) gate.Release();
        }
    }
}
