// How a batch's row-wise elementwise work (norms, RoPE, activation, residual adds) is split over the worker pool.
namespace QuantSharp.Core.Kernels;

/// <summary>
/// Prefill runs the small per-row operations between the matrix products on all threads once a batch has enough
/// rows: on two threads they were about a seventh of a 512-token prefill while running on one. Chunks are whole rows
/// (and, for callers that process fixed-size pieces within a row range, whole multiples of a caller's granule), so
/// every element is computed by the same code whatever the thread count: results do not depend on the split.
/// Decode (one row) and small batches stay on the calling thread with no allocation.
/// </summary>
public static class RowChunks
{
    /// <summary>Rows below which the work stays on the calling thread (the pool's start-up would cost more).</summary>
    public const int MinRows = 32;

    /// <summary>How many chunks <paramref name="rows"/> rows are split into (1 = run inline).</summary>
    public static int Count(int rows)
    {
        int threads = KernelOptions.EffectiveThreads;
        if (threads <= 1 || rows < MinRows) return 1;
        return Math.Min(4 * threads, rows / (MinRows / 4));
    }

    /// <summary>
    /// Items [start, end) of chunk <paramref name="chunk"/> of <paramref name="chunks"/> over <paramref name="count"/>
    /// items (rows, or elements), every chunk but the last a whole multiple of <paramref name="granule"/> items.
    /// </summary>
    public static (int Start, int End) Range(int chunk, int chunks, int count, int granule = 1)
    {
        int per = ((count + chunks - 1) / chunks + granule - 1) / granule * granule;
        int start = (int)Math.Min(count, (long)chunk * per);
        return (start, Math.Min(count, start + per));
    }
}
