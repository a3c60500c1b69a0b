// Per-model / per-session execution settings (threads, instruction set) that replace the process-wide KernelOptions statics.
namespace QuantSharp.Core.Kernels;

/// <summary>
/// How kernels run for one model or session: the maximum number of threads per kernel call, the
/// instruction-set level and the int8 GEMM routing. Applied around a piece of work with <see cref="KernelOptions.Use(ExecutionOptions)"/>,
/// so two sessions in one process can run with different settings at the same time.
/// Results never depend on <see cref="Threads"/>; <see cref="Isa"/> may change the last bits of fp32 results.
/// </summary>
public sealed record ExecutionOptions
{
    /// <summary>Maximum threads per kernel call, the caller included; 0 (the default) means all cores.</summary>
    public int Threads { get; init; }

    /// <summary>Instruction-set level; <see cref="KernelIsa.Auto"/> (the default) picks the widest the CPU has.</summary>
    public KernelIsa Isa { get; init; } = KernelIsa.Auto;

    /// <summary>
    /// Whether multi-row products on block-quantized weights take the int8 GEMM where it is routed (default true; see
    /// <see cref="KernelOptions.Int8Gemm"/>). False gives the fp32 dequantizing GEMM's rounding, for comparisons.
    /// </summary>
    public bool Int8Gemm { get; init; } = true;

    /// <summary>
    /// Whether AVX-512 kernels may use VBMI's byte permutes where the CPU has them (default true). False takes the
    /// VBMI-free path of the same kernels, which gives the same bits: for comparisons and to test that path here.
    /// </summary>
    public bool Vbmi { get; init; } = true;

    /// <summary>Settings that follow the process-wide defaults (all cores, best ISA).</summary>
    public static ExecutionOptions Default { get; } = new();

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the field when <see cref="Threads"/> is negative,
    /// or <see cref="NotSupportedException"/> when the CPU lacks <see cref="Isa"/>.
    /// </summary>
    public void Validate()
    {
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "ExecutionOptions.Threads must be ≥ 0 (0 = all cores)");
        if (!Enum.IsDefined(Isa)) throw new ArgumentOutOfRangeException(nameof(Isa), Isa, "ExecutionOptions.Isa is not a KernelIsa value");
        if (!KernelOptions.IsSupported(Isa)) throw new NotSupportedException($"ExecutionOptions.Isa: kernel ISA {Isa} is not supported on this CPU");
    }
}
