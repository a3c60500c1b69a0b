// Random weights in native memory for the kernel benchmarks.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Bench.Kernels;

/// <summary>A [N, K] weight tensor of random values in unmanaged, 64-byte aligned memory.</summary>
internal sealed unsafe class BenchWeights : IDisposable
{
    private byte* _p;

    public BenchWeights(DType dtype, int n, int k, int seed = 1)
    {
        long bytes = (long)n * k * DTypeInfo.SizeOf(dtype);
        _p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var rng = new Random(seed);
        for (long i = 0; i < (long)n * k; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1) * 0.05f * BenchScale;
            switch (dtype)
            {
                case DType.F32: ((float*)_p)[i] = v; break;
                case DType.F16: ((Half*)_p)[i] = (Half)v; break;
                case DType.BF16: ((ushort*)_p)[i] = FloatConversion.FloatToBF16(v); break;
                default: throw new NotSupportedException(dtype.ToString());
            }
        }
        View = new TensorView("w", dtype, [n, k], _p, bytes);
    }

    public TensorView View { get; }

    /// <summary>
    /// Multiplier of the default weight range ±0.05 (typical LLM magnitudes; about 0.1% of such
    /// values are fp16 subnormals), from QS_BENCH_SCALE, to see whether subnormals cost time.
    /// </summary>
    internal static readonly float BenchScale = float.Parse(Environment.GetEnvironmentVariable("QS_BENCH_SCALE") ?? "1");

    public static float[] Activations(int m, int k, int seed = 2)
    {
        var rng = new Random(seed);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    public void Dispose()
    {
        if (_p != null) { NativeMemory.AlignedFree(_p); _p = null; }
    }
}
