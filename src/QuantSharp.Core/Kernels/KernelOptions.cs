// Process-wide knobs of the kernels: instruction-set level and degree of parallelism.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Settings read by <see cref="MatMul"/> and friends. The static setters are process-wide defaults
/// (the CLI's --threads, tests); changing them while a kernel runs on another thread is allowed but
/// that call may use either value. <see cref="Use(ExecutionOptions)"/> overrides them for the calling
/// thread (and the kernel workers it hands items to) until the returned scope is disposed, which is
/// how a library session carries its own threads and ISA.
/// </summary>
public static class KernelOptions
{
    private static KernelIsa s_requested = KernelIsa.Auto;
    private static KernelIsa s_effective = Detect();
    private static int s_threads;
    private static ParallelOptions s_parallel = MakeParallelOptions(0);

    // The override of the current thread. Thread-static rather than AsyncLocal: it is read ~60 times per
    // decode step and setting an AsyncLocal allocates; WorkerPool copies it onto its workers for each call.
    [ThreadStatic] private static Scope? t_scope;

    /// <summary>
    /// Runs the calling thread's kernels with <paramref name="options"/> until the returned scope is
    /// disposed (scopes nest; dispose in reverse order on the same thread). Parallel kernel items run by
    /// <see cref="WorkerPool"/> and loop bodies run by <see cref="ScopedParallel.For(int, int, Action{int}, int)"/>
    /// see the same settings (threads, ISA, int8 GEMM). A bare Parallel.For started under the scope gets its degree
    /// of parallelism through <see cref="Parallel"/>, but its bodies on pool threads read the process-wide ISA.
    /// </summary>
    public static IDisposable Use(ExecutionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var scope = new Scope(options, t_scope);
        t_scope = scope;
        return scope;
    }

    /// <summary>The settings in force on this thread (an active <see cref="Use"/> scope, else the process defaults).</summary>
    public static ExecutionOptions Current => t_scope?.Options ?? new ExecutionOptions { Threads = s_threads, Isa = s_requested, Int8Gemm = s_int8Gemm };

    /// <summary>The scope of the calling thread, for WorkerPool to hand to its workers.</summary>
    internal static object? CaptureScope() => t_scope;

    /// <summary>Installs a scope captured by <see cref="CaptureScope"/> on a worker thread; returns the previous one.</summary>
    internal static object? RestoreScope(object? scope)
    {
        var previous = t_scope;
        t_scope = (Scope?)scope;
        return previous;
    }

    private sealed class Scope : IDisposable
    {
        public Scope(ExecutionOptions options, Scope? outer)
        {
            Options = options;
            Outer = outer;
            Effective = options.Isa == KernelIsa.Auto ? Detect() : options.Isa;
            Parallel = MakeParallelOptions(options.Threads);
        }

        public ExecutionOptions Options { get; }
        public Scope? Outer { get; }
        public KernelIsa Effective { get; }
        public ParallelOptions Parallel { get; }
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (t_scope == this) t_scope = Outer;
        }
    }

    /// <summary>
    /// Requested instruction-set level. <see cref="KernelIsa.Auto"/> (the default) picks the best
    /// the CPU has; any other value forces that path and throws <see cref="NotSupportedException"/>
    /// when the CPU lacks it (check <see cref="IsSupported"/> first).
    /// </summary>
    public static KernelIsa Isa
    {
        get => s_requested;
        set
        {
            if (!IsSupported(value)) throw new NotSupportedException($"kernel ISA {value} is not supported on this CPU");
            s_requested = value;
            s_effective = value == KernelIsa.Auto ? Detect() : value;
        }
    }

    /// <summary>The level actually used: <see cref="Isa"/> with Auto resolved.</summary>
    public static KernelIsa EffectiveIsa => t_scope?.Effective ?? s_effective;

    /// <summary>
    /// Maximum number of threads a kernel call uses; 0 (the default) means
    /// <see cref="Environment.ProcessorCount"/>. Results do not depend on this value.
    /// </summary>
    public static int Threads
    {
        get => s_threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            s_threads = value;
            s_parallel = MakeParallelOptions(value);
        }
    }

    /// <summary>
    /// Whether block-quantized weights with int8 GEMM tiles use them for multi-row products where
    /// they are routed (default true; see QuantizedMatMul.UsesInt8Gemm and Int8GemmRoutes). False restores the previous routing: row-quad dots
    /// below <see cref="MatMul.QuantizedGemmMinRows"/> rows, the fp32 dequantizing GEMM from there
    /// on, whose results differ in rounding (fp32 rather than int8 activations). For comparisons.
    /// The setter is the process-wide default; a <see cref="Use"/> scope's <see cref="ExecutionOptions.Int8Gemm"/> overrides it.
    /// </summary>
    public static bool Int8Gemm
    {
        get => t_scope is { } scope ? scope.Options.Int8Gemm : s_int8Gemm;
        set => s_int8Gemm = value;
    }

    private static bool s_int8Gemm = true;

    /// <summary>
    /// Whether the AVX-512 kernels use VBMI (vpermb) now: the effective ISA is AVX-512, the CPU has AVX512-VBMI and the
    /// current scope's <see cref="ExecutionOptions.Vbmi"/> allows it.
    /// </summary>
    public static bool UsesVbmi
        => EffectiveIsa == KernelIsa.Avx512 && Avx512Vbmi.IsSupported && (t_scope?.Options.Vbmi ?? true);

    /// <summary>Threads a call will actually use.</summary>
    public static int EffectiveThreads
    {
        get
        {
            int t = t_scope is { } scope ? scope.Options.Threads : s_threads;
            return t == 0 ? Environment.ProcessorCount : t;
        }
    }

    /// <summary>Options for Parallel.For matching <see cref="Threads"/> (cached: no allocation per call).</summary>
    public static ParallelOptions Parallel => t_scope?.Parallel ?? s_parallel;

    /// <summary>Whether the running CPU can execute the given level.</summary>
    public static bool IsSupported(KernelIsa isa) => isa switch
    {
        KernelIsa.Auto or KernelIsa.Scalar => true,
        // The 512-bit path widens 16-bit lanes with AVX-512F/BW and uses FMA from AVX-512F.
        KernelIsa.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported,
        KernelIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelIsa.Vector128 => Vector128.IsHardwareAccelerated,
        _ => false,
    };

    private static KernelIsa Detect()
        => IsSupported(KernelIsa.Avx512) ? KernelIsa.Avx512
         : IsSupported(KernelIsa.Avx2) ? KernelIsa.Avx2
         : IsSupported(KernelIsa.Vector128) ? KernelIsa.Vector128
         : KernelIsa.Scalar;

    private static ParallelOptions MakeParallelOptions(int threads)
        => new() { MaxDegreeOfParallelism = threads == 0 ? Environment.ProcessorCount : threads };
}
