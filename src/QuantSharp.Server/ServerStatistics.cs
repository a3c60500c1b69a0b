// Counters of what the server did with its requests (for tests, logs and the operator).
namespace QuantSharp.Server;

/// <summary>How requests ended, counted since the server started (thread-safe).</summary>
public sealed class ServerStatistics
{
    private long _completed, _rejected, _invalid, _cancelled, _failed;

    /// <summary>Generations that ran to their end (200).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Requests refused because the slots and the queue were full (503).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Requests refused as malformed or unsupported (4xx).</summary>
    public long Invalid => Interlocked.Read(ref _invalid);

    /// <summary>Requests whose client went away before the answer was complete (generation cancelled).</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Requests that failed inside the server (500).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    internal void CountCompleted() => Interlocked.Increment(ref _completed);
    internal void CountRejected() => Interlocked.Increment(ref _rejected);
    internal void CountInvalid() => Interlocked.Increment(ref _invalid);
    internal void CountCancelled() => Interlocked.Increment(ref _cancelled);
    internal void CountFailed() => Interlocked.Increment(ref _failed);

    /// <summary>One line for logs.</summary>
    public override string ToString() => $"completed {Completed}, rejected {Rejected}, invalid {Invalid}, cancelled {Cancelled}, failed {Failed}";
}
