// Activations quantized to int8 once per matmul call: the right-hand side of every quantized dot.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// M rows of K activations as int8 with one fp32 scale per block (32 values, like ggml's Q8_0, or
/// 256, like Q8_K) and integer sums of each 32-value block (Q8_0 style) or 16-value group (Q8_K
/// style). The sums let kernels fold a weight format's offset (−8 for Q4_0, −32 for Q6_K, the
/// k-quant mins) into exact integer arithmetic. Not ggml's byte layout: ours keeps values, scales
/// and sums in separate pinned arrays so each is contiguous per row. Reused per calling thread.
/// </summary>
internal sealed unsafe class Q8Activations
{
    private sbyte[] _q = [];
    private float[] _d = [];
    private int[] _s = [];

    /// <summary>Values per scale: 32 or 256.</summary>
    public int BlockSize { get; private set; }
    /// <summary>Values per integer sum: 32 or 16.</summary>
    public int SumGroup { get; private set; }
    /// <summary>Row length.</summary>
    public int K { get; private set; }

    /// <summary>The rows starting at <paramref name="row"/> as a tile (the arrays are pinned).</summary>
    public ActTile Tile(int row)
    {
        int nd = K / BlockSize, ns = K / SumGroup;
        return new ActTile(
            (sbyte*)Unsafe.AsPointer(ref _q[0]) + (nint)row * K, K,
            (float*)Unsafe.AsPointer(ref _d[0]) + (nint)row * nd, nd,
            (int*)Unsafe.AsPointer(ref _s[0]) + (nint)row * ns, ns);
    }

    /// <summary>
    /// Quantizes <paramref name="m"/>×<paramref name="k"/> activations: per block d = max|x|/127 and
    /// q = round-half-even(x/d), so |q| ≤ 127 (−128 never occurs, which the kernels' sign and
    /// abs tricks rely on).
    /// </summary>
    public void Quantize(float* a, int m, int k, bool superBlocks)
    {
        BlockSize = superBlocks ? 256 : 32;
        SumGroup = superBlocks ? 16 : 32;
        K = k;
        int nd = k / BlockSize, ns = k / SumGroup;
        Ensure(ref _q, (long)m * k);
        Ensure(ref _d, (long)m * nd);
        Ensure(ref _s, (long)m * ns);
        fixed (sbyte* q0 = _q)
        fixed (float* d0 = _d)
        fixed (int* s0 = _s)
        {
            for (int r = 0; r < m; r++)
            {
                float* x = a + (nint)r * k;
                sbyte* q = q0 + (nint)r * k;
                for (int b = 0; b < nd; b++)
                {
                    var xs = new ReadOnlySpan<float>(x + b * BlockSize, BlockSize);
                    float amax = float.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(xs));
                    float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
                    d0[(nint)r * nd + b] = d;
                    QuantizeBlock(x + b * BlockSize, q + b * BlockSize, BlockSize, id);
                }
                int* s = s0 + (nint)r * ns;
                for (int g = 0; g < ns; g++)
                {
                    int sum = 0;
                    sbyte* qg = q + g * SumGroup;
                    for (int i = 0; i < SumGroup; i++) sum += qg[i];
                    s[g] = sum;
                }
            }
        }
    }

    private static void QuantizeBlock(float* x, sbyte* q, int n, float id)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vid = Vector256.Create(id);
            var lim = Vector256.Create(127f);
            for (; i + 16 <= n; i += 16)
            {
                // Round half to even like the scalar loop; the clamp only guards rounding at exactly 127.
                var v0 = Vector256.Round(Vector256.Min(Vector256.Max(Vector256.Load(x + i) * vid, -lim), lim));
                var v1 = Vector256.Round(Vector256.Min(Vector256.Max(Vector256.Load(x + i + 8) * vid, -lim), lim));
                var w = Vector256.Narrow(Vector256.ConvertToInt32(v0), Vector256.ConvertToInt32(v1));
                Vector128.Store(Vector128.Narrow(w.GetLower(), w.GetUpper()), q + i);
            }
        }
        for (; i < n; i++) q[i] = (sbyte)float.Round(float.Clamp(x[i] * id, -127f, 127f));
    }

    private static void Ensure<T>(ref T[] array, long length)
    {
        if (array.Length < length) array = GC.AllocateUninitializedArray<T>(checked((int)Math.Max(length, 1)), pinned: true);
    }
}

/// <summary>Pointers to consecutive quantized activation rows from a given one on (tile kernels use up to four).</summary>
internal readonly unsafe struct ActTile(sbyte* q, nint qStride, float* d, int dStride, int* s, int sStride)
{
    /// <summary>int8 values of row <paramref name="j"/>.</summary>
    public sbyte* Q(int j) => q + j * qStride;
    /// <summary>Block scales of row <paramref name="j"/>.</summary>
    public float* D(int j) => d + j * dStride;
    /// <summary>Group sums of row <paramref name="j"/>.</summary>
    public int* S(int j) => s + j * sStride;
}
