// Measures the machine's sustained read bandwidth, the ceiling of memory-bound decode.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// Streams a buffer far larger than the last-level cache with 256-bit loads, split evenly over
/// <c>threads</c> dedicated threads, and reports the best of several passes in GB/s (1e9 bytes/s).
/// Decode of a model whose weights do not fit in cache cannot run faster than
/// bandwidth ÷ bytes of weights read per token. One instance keeps its buffer, so the benchmark can
/// sample the bandwidth again right before every timed run: on a shared host it moves (37 to 84 GB/s
/// on two threads within minutes, session 15), and a share of the bound is only meaningful against a
/// figure taken at the same moment.
/// </summary>
internal sealed unsafe class MemoryBandwidth : IDisposable
{
    private readonly byte* _buffer;
    private readonly long _bytes;

    /// <summary>Allocates and touches a <paramref name="bytes"/>-byte buffer (default 512 MiB).</summary>
    public MemoryBandwidth(long bytes = 512L << 20)
    {
        _bytes = bytes;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        for (long done = 0; done < bytes; done += int.MaxValue)
            new Span<byte>(_buffer + done, (int)Math.Min(int.MaxValue, bytes - done)).Fill(1);
    }

    /// <summary>Best of <paramref name="passes"/> streams over the whole buffer with <paramref name="threads"/> threads, in GB/s.</summary>
    public double Measure(int threads, int passes = 5)
    {
        long slice = _bytes / threads / 128 * 128;
        double best = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            using var start = new Barrier(threads + 1);
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                byte* from = _buffer + t * slice;
                workers[t] = new Thread(() => { start.SignalAndWait(); Sink(Read(from, slice)); }) { IsBackground = true };
                workers[t].Start();
            }
            start.SignalAndWait();
            var sw = Stopwatch.StartNew();
            foreach (var w in workers) w.Join();
            best = Math.Max(best, slice * threads / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    public void Dispose() => NativeMemory.AlignedFree(_buffer);

    private static long s_sink;

    private static void Sink(Vector256<long> v) => Interlocked.Add(ref s_sink, Vector256.Sum(v));

    private static Vector256<long> Read(byte* p, long n)
    {
        Vector256<long> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i + 128 <= n; i += 128)
        {
            a0 += Vector256.Load((long*)(p + i));
            a1 += Vector256.Load((long*)(p + i + 32));
            a2 += Vector256.Load((long*)(p + i + 64));
            a3 += Vector256.Load((long*)(p + i + 96));
        }
        return a0 + a1 + a2 + a3;
    }
}
