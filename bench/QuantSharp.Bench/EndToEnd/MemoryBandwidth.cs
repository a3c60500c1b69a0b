// Measures the machine's sustained read bandwidth, the ceiling of memory-bound decode.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// Streams a buffer far larger than the last-level cache with 256-bit loads, split evenly over
/// <c>threads</c> dedicated threads, and reports the best of several passes in GB/s (1e9 bytes/s).
/// Decode of a model whose weights do not fit in cache cannot run faster than
/// bandwidth ÷ bytes of weights read per token.
/// </summary>
internal static unsafe class MemoryBandwidth
{
    public static double Measure(int threads, long bytes = 512L << 20, int passes = 5)
    {
        byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            new Span<byte>(p, checked((int)Math.Min(bytes, int.MaxValue))).Fill(1);
            if (bytes > int.MaxValue) new Span<byte>(p + int.MaxValue, (int)(bytes - int.MaxValue)).Fill(1);
            long slice = bytes / threads / 128 * 128;
            double best = 0;
            for (int pass = 0; pass < passes; pass++)
            {
                using var start = new Barrier(threads + 1);
                var workers = new Thread[threads];
                for (int t = 0; t < threads; t++)
                {
                    byte* from = p + t * slice;
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
        finally
        {
            NativeMemory.AlignedFree(p);
        }
    }

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
