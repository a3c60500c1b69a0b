// ScopedParallel.For: loop bodies on thread-pool threads run under the caller's KernelOptions.Use scope (ISA, int8 GEMM, threads).
using QuantSharp.Core.Kernels;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// Inside a <see cref="KernelOptions.Use"/> scope whose ISA differs from the process default, bodies that
/// <see cref="ScopedParallel"/> runs on pool threads see the scope's ISA, int8 GEMM switch and thread count (a bare
/// Parallel.For's do not, which shows the observation can tell the two apart); a Threads = 1 scope runs one body at a
/// time; and a real calibration-path loop (<see cref="CausalAttention"/>, whose attention scores take the ISA's
/// rounding) gives under a Scalar scope exactly the bits of a process-wide Scalar run.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed class ScopedParallelTests
{
    private const int Items = 512;

    /// <summary>What a body saw, recorded only for bodies that ran on a thread other than the caller's.</summary>
    private sealed record Seen(KernelIsa Isa, bool Int8Gemm, int Threads);

    [Fact]
    public void BodiesOnPoolThreadsSeeTheCallersScope()
    {
        var processIsa = KernelOptions.EffectiveIsa;
        Assert.NotEqual(KernelIsa.Scalar, processIsa); // the check needs a process default other than the scope's
        var scoped = new ExecutionOptions { Isa = KernelIsa.Scalar, Int8Gemm = false, Threads = 2 };

        List<Seen> plain, withState, bare;
        using (KernelOptions.Use(scoped))
        {
            plain = OnPoolThreads(record => ScopedParallel.For(0, Items, i => record(i)));
            withState = OnPoolThreads(record => ScopedParallel.For(0, Items, () => new int[1], (i, local) => { local[0]++; record(i); }));
            // Control: the same observation through a bare Parallel.For sees the process-wide ISA on pool threads.
            bare = OnPoolThreads(record => Parallel.For(0, Items, KernelOptions.Parallel, i => record(i)));
        }

        Assert.All(plain, s => Assert.Equal(new Seen(KernelIsa.Scalar, false, 2), s));
        Assert.All(withState, s => Assert.Equal(new Seen(KernelIsa.Scalar, false, 2), s));
        Assert.All(bare, s => Assert.Equal(processIsa, s.Isa));
        // The pool threads gave the scope back: after the scope, a body sees the process defaults again.
        var after = OnPoolThreads(record => ScopedParallel.For(0, Items, i => record(i)));
        Assert.All(after, s => Assert.Equal(processIsa, s.Isa));
    }

    [Fact]
    public void AOneThreadScopeRunsOneBodyAtATime()
    {
        int running = 0, most = 0;
        var threads = new HashSet<int>();
        using (KernelOptions.Use(new ExecutionOptions { Threads = 1, Isa = KernelIsa.Scalar }))
        {
            ScopedParallel.For(0, 64, i =>
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref most, now);
                Assert.Equal(KernelIsa.Scalar, KernelOptions.EffectiveIsa);
                Assert.Equal(1, KernelOptions.EffectiveThreads);
                lock (threads) threads.Add(Environment.CurrentManagedThreadId);
                Thread.SpinWait(2000);
                Interlocked.Decrement(ref running);
            });
        }
        Assert.Equal(1, most);
        Assert.Single(threads);
    }

    [Fact]
    public void CausalAttentionUnderAScalarScopeMatchesAProcessWideScalarRun()
    {
        Assert.NotEqual(KernelIsa.Scalar, KernelOptions.EffectiveIsa);
        var hp = new LlamaHyperParameters
        {
            VocabSize = 32, Dim = 256, HiddenDim = 512, NumLayers = 1, NumHeads = 4, NumKvHeads = 2, HeadDim = 64,
            RmsNormEps = 1e-5f, RopeTheta = 10000, ContextLength = 256, RopeLayout = RopeLayout.HalfSplit, TiedEmbeddings = false,
        };
        // Two sequences of 48 and 80 tokens laid end to end.
        const int n = 128;
        var sequenceStart = Enumerable.Range(0, n).Select(t => t < 48 ? 0 : 48).ToArray();
        var rng = new Random(13);
        float[] Random(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 4 - 2))];
        float[] q = Random(n * hp.QDim), k = Random(n * hp.KvDim), v = Random(n * hp.KvDim);
        float[] Attend()
        {
            var attn = new float[n * hp.QDim];
            CausalAttention.Run(hp, 0, q, k, v, attn, sequenceStart, n, 80);
            return attn;
        }

        var processDefault = Attend();
        float[] processScalar;
        using (new KernelScope(KernelIsa.Scalar, 0)) processScalar = Attend();
        // The ISA shows in the bits, so a body that missed the scope would be caught below.
        Assert.NotEqual(processDefault, processScalar);

        float[] scoped, scopedOneThread;
        using (KernelOptions.Use(new ExecutionOptions { Isa = KernelIsa.Scalar, Threads = 2 })) scoped = Attend();
        using (KernelOptions.Use(new ExecutionOptions { Isa = KernelIsa.Scalar, Threads = 1 })) scopedOneThread = Attend();
        Assert.Equal(processScalar, scoped);
        Assert.Equal(processScalar, scopedOneThread);
        Assert.Equal(processDefault, Attend()); // and the default again once the scopes are gone
    }

    /// <summary>
    /// Runs <paramref name="loop"/> with a body recorder and returns what the bodies on other threads saw. The caller's
    /// own first body waits until a pool thread has run one, so every run observes at least one pool thread.
    /// </summary>
    private static List<Seen> OnPoolThreads(Action<Action<int>> loop)
    {
        int caller = Environment.CurrentManagedThreadId;
        var seen = new List<Seen>();
        using var poolRan = new ManualResetEventSlim();
        loop(_ =>
        {
            if (Environment.CurrentManagedThreadId == caller)
            {
                poolRan.Wait(TimeSpan.FromSeconds(30));
                return;
            }
            lock (seen) seen.Add(new Seen(KernelOptions.EffectiveIsa, KernelOptions.Int8Gemm, KernelOptions.EffectiveThreads));
            poolRan.Set();
        });
        Assert.NotEmpty(seen);
        return seen;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
