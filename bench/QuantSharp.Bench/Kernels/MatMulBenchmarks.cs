// BenchmarkDotNet micro-benchmarks of MatMul: GEMV (decode) and GEMM (prefill) on the model's shapes.
using BenchmarkDotNet.Attributes;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Bench.Kernels;

/// <summary>Shapes of sotu-llama-30m's linear layers, as (K, N) of W[N, K].</summary>
public static class KernelShapes
{
    public static readonly (int K, int N)[] Linear = [(512, 512), (512, 1536), (512, 8192), (1536, 512)];

    /// <summary>Prefill length used for the GEMM benchmarks.</summary>
    public const int PrefillRows = 512;
}

/// <summary>Shared parameters and buffers of the MatMul benchmarks.</summary>
public abstract class MatMulBenchmarkBase
{
    private BenchWeights? _w;
    protected float[] A = [];
    protected float[] C = [];
    protected TensorView W => _w!.View;

    [Params(DType.F32, DType.F16, DType.BF16)]
    public DType DType { get; set; }

    [Params("512x512", "512x1536", "512x8192", "1536x512")]
    public string KxN { get; set; } = "512x512";

    [Params(1, 2)]
    public int Threads { get; set; }

    protected abstract int Rows { get; }

    [GlobalSetup]
    public void Setup()
    {
        var parts = KxN.Split('x');
        int k = int.Parse(parts[0]), n = int.Parse(parts[1]);
        KernelOptions.Threads = Threads;
        _w = new BenchWeights(DType, n, k);
        A = BenchWeights.Activations(Rows, k);
        C = new float[Rows * n];
    }

    [GlobalCleanup]
    public void Cleanup() => _w?.Dispose();
}

/// <summary>M = 1: one decode step through a linear layer.</summary>
public class GemvBenchmarks : MatMulBenchmarkBase
{
    protected override int Rows => 1;

    [Benchmark]
    public void Gemv() => MatMul.Multiply(A, 1, W, C);
}

/// <summary>M = 512: a prefill chunk through a linear layer.</summary>
public class GemmBenchmarks : MatMulBenchmarkBase
{
    protected override int Rows => KernelShapes.PrefillRows;

    [Benchmark]
    public void Gemm() => MatMul.Multiply(A, KernelShapes.PrefillRows, W, C);
}
