// Matrix-vector product y = W·x for decode (M = 1): streams the weights once, memory-bound.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// GEMV kernels: y[n] = Σ_k W[n, k]·x[k]. Four weight rows per iteration share each load of x;
/// two accumulators per row hide FMA latency. Rows are split into chunks whose size depends only
/// on the shape, and every row is reduced the same way whichever chunk or loop it falls in, so
/// the result is bit-identical for any thread count.
/// </summary>
internal static unsafe class Gemv
{
    // Hot methods carry AggressiveOptimization: a decode step calls each only a few hundred
    // times, so tier-0 code (and its OSR transition) would otherwise dominate early tokens.

    /// <summary>Target bytes of weights per parallel work item (big enough to amortise scheduling).</summary>
    private const int ChunkBytes = 64 * 1024;

    /// <summary>Below this many weight bytes the call runs on the calling thread only.</summary>
    private const long ParallelThresholdBytes = 256 * 1024;

    [ThreadStatic] private static Job? t_job;

    /// <summary>Marks fp16 weights with pre-scaled activations inside a job (not a real dtype).</summary>
    private const DType ScaledF16 = (DType)(-1);

    public static void Run(float* x, in TensorView w, int n, int k, float* y)
    {
        nint rowBytes = (nint)k * DTypeInfo.SizeOf(w.DType);
        int rowsPerChunk = (int)Math.Clamp(ChunkBytes / Math.Max(1, rowBytes), 4, 4096) & ~3;
        int chunks = (n + rowsPerChunk - 1) / rowsPerChunk;
        var job = t_job ??= new Job();
        var dtype = w.DType;
        if (dtype == DType.F16)
        {
            // Pre-scale x once so fp16 weights need no per-element rebiasing (see F16ScaledLoad).
            var xs = new ReadOnlySpan<float>(x, k);
            if (System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(xs) is var m && float.Abs(m) < F16ScaledLoad.MaxActivation)
            {
                x = job.ScaledActivations(xs);
                dtype = ScaledF16;
            }
        }
        job.Set(x, w.Pointer, rowBytes, k, y, n, rowsPerChunk, dtype, KernelOptions.EffectiveIsa);
        if (chunks <= 1 || KernelOptions.EffectiveThreads <= 1 || (long)n * rowBytes < ParallelThresholdBytes)
            job.RunRows(0, n);
        else
            WorkerPool.Run(chunks, KernelOptions.EffectiveThreads, job.Body);
    }

    /// <summary>Arguments of one call, reused per calling thread so a call does not allocate a closure.</summary>
    private sealed class Job
    {
        private float* _x, _y;
        private byte* _w;
        private nint _rowBytes;
        private int _k, _n, _rowsPerChunk;
        private DType _dtype;
        private KernelIsa _isa;
        public readonly Action<int> Body;

        public Job() => Body = RunChunk;

        private float[] _scaled = [];

        /// <summary>x·2^112 in a buffer owned by this job (pinned: the kernels take pointers).</summary>
        public float* ScaledActivations(ReadOnlySpan<float> x)
        {
            if (_scaled.Length < x.Length) _scaled = GC.AllocateUninitializedArray<float>(x.Length, pinned: true);
            System.Numerics.Tensors.TensorPrimitives.Multiply(x, F16ScaledLoad.ActivationScale, _scaled);
            return (float*)Unsafe.AsPointer(ref _scaled[0]);
        }

        public void Set(float* x, byte* w, nint rowBytes, int k, float* y, int n, int rowsPerChunk, DType dtype, KernelIsa isa)
        {
            _x = x; _w = w; _rowBytes = rowBytes; _k = k; _y = y; _n = n; _rowsPerChunk = rowsPerChunk; _dtype = dtype; _isa = isa;
        }

        private void RunChunk(int chunk)
        {
            int r0 = chunk * _rowsPerChunk;
            RunRows(r0, Math.Min(_n, r0 + _rowsPerChunk));
        }

        public void RunRows(int r0, int r1)
        {
            switch (_dtype)
            {
                case DType.F32: Rows<F32Load>(r0, r1); break;
                case DType.F16: Rows<F16Load>(r0, r1); break;
                case ScaledF16: Rows<F16ScaledLoad>(r0, r1); break;
                case DType.BF16: Rows<BF16Load>(r0, r1); break;
                default: throw new NotSupportedException($"GEMV on {_dtype} weights");
            }
        }

        private void Rows<TL>(int r0, int r1) where TL : struct, IWeightLoad
        {
            switch (_isa)
            {
                case KernelIsa.Avx512: Rows512<TL>(_x, _w, _rowBytes, _k, _y, r0, r1); break;
                case KernelIsa.Avx2: Rows256<TL>(_x, _w, _rowBytes, _k, _y, r0, r1); break;
                case KernelIsa.Vector128: Rows128<TL>(_x, _w, _rowBytes, _k, _y, r0, r1); break;
                default: RowsScalar<TL>(_x, _w, _rowBytes, _k, _y, r0, r1); break;
            }
        }
    }

    // ---- 512-bit ---------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows512<TL>(float* x, byte* w, nint rowBytes, int k, float* y, int r0, int r1) where TL : struct, IWeightLoad
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            byte* w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            nint i = 0;
            for (; i <= k - 32; i += 32)
            {
                var x0 = Vector512.Load(x + i);
                var x1 = Vector512.Load(x + i + 16);
                a0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i), x0, a0);
                a1 = Avx512F.FusedMultiplyAdd(TL.Load512(w1, i), x0, a1);
                a2 = Avx512F.FusedMultiplyAdd(TL.Load512(w2, i), x0, a2);
                a3 = Avx512F.FusedMultiplyAdd(TL.Load512(w3, i), x0, a3);
                b0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i + 16), x1, b0);
                b1 = Avx512F.FusedMultiplyAdd(TL.Load512(w1, i + 16), x1, b1);
                b2 = Avx512F.FusedMultiplyAdd(TL.Load512(w2, i + 16), x1, b2);
                b3 = Avx512F.FusedMultiplyAdd(TL.Load512(w3, i + 16), x1, b3);
            }
            if (i <= k - 16)
            {
                var x0 = Vector512.Load(x + i);
                a0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i), x0, a0);
                a1 = Avx512F.FusedMultiplyAdd(TL.Load512(w1, i), x0, a1);
                a2 = Avx512F.FusedMultiplyAdd(TL.Load512(w2, i), x0, a2);
                a3 = Avx512F.FusedMultiplyAdd(TL.Load512(w3, i), x0, a3);
                i += 16;
            }
            y[r] = Vector512.Sum(a0 + b0) + TailFma<TL>(x, w0, i, k);
            y[r + 1] = Vector512.Sum(a1 + b1) + TailFma<TL>(x, w1, i, k);
            y[r + 2] = Vector512.Sum(a2 + b2) + TailFma<TL>(x, w2, i, k);
            y[r + 3] = Vector512.Sum(a3 + b3) + TailFma<TL>(x, w3, i, k);
        }
        // Leftover rows: exactly the per-row arithmetic of the four-row loop above.
        for (; r < r1; r++)
        {
            byte* w0 = w + r * rowBytes;
            Vector512<float> a0 = default, b0 = default;
            nint i = 0;
            for (; i <= k - 32; i += 32)
            {
                a0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i), Vector512.Load(x + i), a0);
                b0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i + 16), Vector512.Load(x + i + 16), b0);
            }
            if (i <= k - 16)
            {
                a0 = Avx512F.FusedMultiplyAdd(TL.Load512(w0, i), Vector512.Load(x + i), a0);
                i += 16;
            }
            y[r] = Vector512.Sum(a0 + b0) + TailFma<TL>(x, w0, i, k);
        }
    }

    // ---- 256-bit ---------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows256<TL>(float* x, byte* w, nint rowBytes, int k, float* y, int r0, int r1) where TL : struct, IWeightLoad
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            byte* w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            nint i = 0;
            for (; i <= k - 16; i += 16)
            {
                var x0 = Vector256.Load(x + i);
                var x1 = Vector256.Load(x + i + 8);
                a0 = Fma.MultiplyAdd(TL.Load256(w0, i), x0, a0);
                a1 = Fma.MultiplyAdd(TL.Load256(w1, i), x0, a1);
                a2 = Fma.MultiplyAdd(TL.Load256(w2, i), x0, a2);
                a3 = Fma.MultiplyAdd(TL.Load256(w3, i), x0, a3);
                b0 = Fma.MultiplyAdd(TL.Load256(w0, i + 8), x1, b0);
                b1 = Fma.MultiplyAdd(TL.Load256(w1, i + 8), x1, b1);
                b2 = Fma.MultiplyAdd(TL.Load256(w2, i + 8), x1, b2);
                b3 = Fma.MultiplyAdd(TL.Load256(w3, i + 8), x1, b3);
            }
            if (i <= k - 8)
            {
                var x0 = Vector256.Load(x + i);
                a0 = Fma.MultiplyAdd(TL.Load256(w0, i), x0, a0);
                a1 = Fma.MultiplyAdd(TL.Load256(w1, i), x0, a1);
                a2 = Fma.MultiplyAdd(TL.Load256(w2, i), x0, a2);
                a3 = Fma.MultiplyAdd(TL.Load256(w3, i), x0, a3);
                i += 8;
            }
            y[r] = Vector256.Sum(a0 + b0) + TailFma<TL>(x, w0, i, k);
            y[r + 1] = Vector256.Sum(a1 + b1) + TailFma<TL>(x, w1, i, k);
            y[r + 2] = Vector256.Sum(a2 + b2) + TailFma<TL>(x, w2, i, k);
            y[r + 3] = Vector256.Sum(a3 + b3) + TailFma<TL>(x, w3, i, k);
        }
        for (; r < r1; r++)
        {
            byte* w0 = w + r * rowBytes;
            Vector256<float> a0 = default, b0 = default;
            nint i = 0;
            for (; i <= k - 16; i += 16)
            {
                a0 = Fma.MultiplyAdd(TL.Load256(w0, i), Vector256.Load(x + i), a0);
                b0 = Fma.MultiplyAdd(TL.Load256(w0, i + 8), Vector256.Load(x + i + 8), b0);
            }
            if (i <= k - 8)
            {
                a0 = Fma.MultiplyAdd(TL.Load256(w0, i), Vector256.Load(x + i), a0);
                i += 8;
            }
            y[r] = Vector256.Sum(a0 + b0) + TailFma<TL>(x, w0, i, k);
        }
    }

    // ---- 128-bit (portable) ----------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows128<TL>(float* x, byte* w, nint rowBytes, int k, float* y, int r0, int r1) where TL : struct, IWeightLoad
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            byte* w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
            Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector128<float> b0 = default, b1 = default, b2 = default, b3 = default;
            nint i = 0;
            for (; i <= k - 8; i += 8)
            {
                var x0 = Vector128.Load(x + i);
                var x1 = Vector128.Load(x + i + 4);
                a0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i), x0, a0);
                a1 = Vector128.MultiplyAddEstimate(TL.Load128(w1, i), x0, a1);
                a2 = Vector128.MultiplyAddEstimate(TL.Load128(w2, i), x0, a2);
                a3 = Vector128.MultiplyAddEstimate(TL.Load128(w3, i), x0, a3);
                b0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i + 4), x1, b0);
                b1 = Vector128.MultiplyAddEstimate(TL.Load128(w1, i + 4), x1, b1);
                b2 = Vector128.MultiplyAddEstimate(TL.Load128(w2, i + 4), x1, b2);
                b3 = Vector128.MultiplyAddEstimate(TL.Load128(w3, i + 4), x1, b3);
            }
            if (i <= k - 4)
            {
                var x0 = Vector128.Load(x + i);
                a0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i), x0, a0);
                a1 = Vector128.MultiplyAddEstimate(TL.Load128(w1, i), x0, a1);
                a2 = Vector128.MultiplyAddEstimate(TL.Load128(w2, i), x0, a2);
                a3 = Vector128.MultiplyAddEstimate(TL.Load128(w3, i), x0, a3);
                i += 4;
            }
            y[r] = Vector128.Sum(a0 + b0) + TailMulAdd<TL>(x, w0, i, k);
            y[r + 1] = Vector128.Sum(a1 + b1) + TailMulAdd<TL>(x, w1, i, k);
            y[r + 2] = Vector128.Sum(a2 + b2) + TailMulAdd<TL>(x, w2, i, k);
            y[r + 3] = Vector128.Sum(a3 + b3) + TailMulAdd<TL>(x, w3, i, k);
        }
        for (; r < r1; r++)
        {
            byte* w0 = w + r * rowBytes;
            Vector128<float> a0 = default, b0 = default;
            nint i = 0;
            for (; i <= k - 8; i += 8)
            {
                a0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i), Vector128.Load(x + i), a0);
                b0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i + 4), Vector128.Load(x + i + 4), b0);
            }
            if (i <= k - 4)
            {
                a0 = Vector128.MultiplyAddEstimate(TL.Load128(w0, i), Vector128.Load(x + i), a0);
                i += 4;
            }
            y[r] = Vector128.Sum(a0 + b0) + TailMulAdd<TL>(x, w0, i, k);
        }
    }

    // ---- scalar ----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsScalar<TL>(float* x, byte* w, nint rowBytes, int k, float* y, int r0, int r1) where TL : struct, IWeightLoad
    {
        for (int r = r0; r < r1; r++)
        {
            byte* w0 = w + r * rowBytes;
            // Four partial sums: independent dependency chains for the FPU and a fixed order.
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            nint i = 0;
            for (; i <= k - 4; i += 4)
            {
                s0 += TL.Load1(w0, i) * x[i];
                s1 += TL.Load1(w0, i + 1) * x[i + 1];
                s2 += TL.Load1(w0, i + 2) * x[i + 2];
                s3 += TL.Load1(w0, i + 3) * x[i + 3];
            }
            y[r] = (s0 + s1) + (s2 + s3) + TailMulAdd<TL>(x, w0, i, k);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailFma<TL>(float* x, byte* w, nint i, int k) where TL : struct, IWeightLoad
    {
        float t = 0;
        for (; i < k; i++) t = MathF.FusedMultiplyAdd(TL.Load1(w, i), x[i], t);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailMulAdd<TL>(float* x, byte* w, nint i, int k) where TL : struct, IWeightLoad
    {
        float t = 0;
        for (; i < k; i++) t += TL.Load1(w, i) * x[i];
        return t;
    }
}
