// The two inner loops of attention over a KV cache: query·key scores and the value-weighted sum.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Attention inner loops over rows of a cache laid out [position, stride]. Head widths are small
/// (64–128), so a call per key would cost more than the arithmetic; these loops keep the query and
/// the output accumulators in registers across all positions. Results are independent of threads.
/// </summary>
public static unsafe class AttentionOps
{
    /// <summary>scores[j] = scale · Σ_c q[c]·rows[j·stride + c] for j &lt; scores.Length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> rows, int stride, float scale, Span<float> scores)
    {
        int d = q.Length, n = scores.Length;
        if (n > 0 && (long)(n - 1) * stride + d > rows.Length) throw new ArgumentException("rows too short for the positions asked");
        fixed (float* qp = q, rp = rows, sp = scores)
        {
            if (Vector512.IsHardwareAccelerated && d % 16 == 0 && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
            {
                for (int j = 0; j < n; j++)
                {
                    float* r = rp + (long)j * stride;
                    var acc = Vector512<float>.Zero;
                    for (int c = 0; c < d; c += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(qp + c), Vector512.Load(r + c), acc);
                    sp[j] = Vector512.Sum(acc) * scale;
                }
                return;
            }
            if (Vector256.IsHardwareAccelerated && d % 8 == 0 && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2)
            {
                for (int j = 0; j < n; j++)
                {
                    float* r = rp + (long)j * stride;
                    var acc = Vector256<float>.Zero;
                    for (int c = 0; c < d; c += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(qp + c), Vector256.Load(r + c), acc);
                    sp[j] = Vector256.Sum(acc) * scale;
                }
                return;
            }
            for (int j = 0; j < n; j++)
            {
                float* r = rp + (long)j * stride;
                float acc = 0;
                for (int c = 0; c < d; c++) acc = MathF.FusedMultiplyAdd(qp[c], r[c], acc);
                sp[j] = acc * scale;
            }
        }
    }

    /// <summary>output[c] = Σ_j weights[j]·rows[j·stride + c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSum(ReadOnlySpan<float> weights, ReadOnlySpan<float> rows, int stride, Span<float> output)
    {
        int d = output.Length, n = weights.Length;
        if (n > 0 && (long)(n - 1) * stride + d > rows.Length) throw new ArgumentException("rows too short for the positions asked");
        fixed (float* wp = weights, rp = rows, op = output)
        {
            int c = 0;
            if (Vector512.IsHardwareAccelerated && KernelOptions.EffectiveIsa == KernelIsa.Avx512)
            {
                for (; c + 64 <= d; c += 64)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int j = 0; j < n; j++)
                    {
                        float* r = rp + (long)j * stride + c;
                        var s = Vector512.Create(wp[j]);
                        a0 = Vector512.FusedMultiplyAdd(s, Vector512.Load(r), a0);
                        a1 = Vector512.FusedMultiplyAdd(s, Vector512.Load(r + 16), a1);
                        a2 = Vector512.FusedMultiplyAdd(s, Vector512.Load(r + 32), a2);
                        a3 = Vector512.FusedMultiplyAdd(s, Vector512.Load(r + 48), a3);
                    }
                    a0.Store(op + c); a1.Store(op + c + 16); a2.Store(op + c + 32); a3.Store(op + c + 48);
                }
                for (; c + 16 <= d; c += 16)
                {
                    var a0 = Vector512<float>.Zero;
                    for (int j = 0; j < n; j++) a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[j]), Vector512.Load(rp + (long)j * stride + c), a0);
                    a0.Store(op + c);
                }
            }
            else if (Vector256.IsHardwareAccelerated && KernelOptions.EffectiveIsa is KernelIsa.Avx512 or KernelIsa.Avx2)
            {
                for (; c + 8 <= d; c += 8)
                {
                    var a0 = Vector256<float>.Zero;
                    for (int j = 0; j < n; j++) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(wp[j]), Vector256.Load(rp + (long)j * stride + c), a0);
                    a0.Store(op + c);
                }
            }
            for (; c < d; c++)
            {
                float acc = 0;
                for (int j = 0; j < n; j++) acc = MathF.FusedMultiplyAdd(wp[j], rp[(long)j * stride + c], acc);
                op[c] = acc;
            }
        }
    }
}
