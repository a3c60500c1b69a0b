// Activations quantized to int8 once per matmul call: the right-hand side of every quantized dot.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// M rows of K activations as int8 with one fp32 scale per block (32 values, like ggml's Q8_0, or
/// 256, like Q8_K) and integer sums of each 32-value block (Q8_0 style) or 16-value group (Q8_K
/// style). The sums let kernels fold a weight format's offset (−8 for Q4_0, −32 for Q6_K, the
/// k-quant mins) into exact integer arithmetic. Not ggml's byte layout: ours keeps values, scales
/// and sums in separate pinned arrays so each is contiguous per row. Reused per calling thread.
/// On request the values are also split into sign planes (|q| as bytes and 0x10 where q &lt; 0) for the
/// kernels that move a weight's sign by a byte permute instead of onto the activations (see
/// <see cref="Iq4Quad"/>); computed once per call, not once per weight row.
/// </summary>
internal sealed unsafe class Q8Activations
{
    private sbyte[] _q = [];
    private float[] _d = [];
    private int[] _s = [];
    private byte[] _u = [];
    private byte[] _g = [];

    // The call in progress, for the pool's items (no closure per call).
    private float* _src;
    private int _rows, _chunks;
    private KernelIsa _isa;
    private Action<int>? _chunkBody;

    /// <summary>Values per scale: 32 or 256.</summary>
    public int BlockSize { get; private set; }
    /// <summary>Values per integer sum: 32 or 16.</summary>
    public int SumGroup { get; private set; }
    /// <summary>Row length.</summary>
    public int K { get; private set; }

    /// <summary>Whether the last <see cref="Quantize"/> also wrote the sign planes (<see cref="ActTile.U"/>, <see cref="ActTile.G"/>).</summary>
    public bool SignPlanes { get; private set; }

    /// <summary>The rows starting at <paramref name="row"/> as a tile (the arrays are pinned).</summary>
    public ActTile Tile(int row)
    {
        int nd = K / BlockSize, ns = K / SumGroup;
        nint at = (nint)row * K;
        return new ActTile(
            (sbyte*)Unsafe.AsPointer(ref _q[0]) + at, K,
            (float*)Unsafe.AsPointer(ref _d[0]) + (nint)row * nd, nd,
            (int*)Unsafe.AsPointer(ref _s[0]) + (nint)row * ns, ns,
            SignPlanes ? (byte*)Unsafe.AsPointer(ref _u[0]) + at : null,
            SignPlanes ? (byte*)Unsafe.AsPointer(ref _g[0]) + at : null);
    }

    /// <summary>
    /// Quantizes <paramref name="m"/>×<paramref name="k"/> activations: per block d = max|x|/127 and
    /// q = round-half-even(x/d), so |q| ≤ 127 (−128 never occurs, which the kernels' sign and
    /// abs tricks rely on). Rows are independent, so large calls are split over the worker pool by
    /// whole rows; every path (512-bit, 256-bit, scalar) gives the same bytes. <paramref name="signPlanes"/>
    /// also writes |q| and the sign plane of every value (<see cref="ActTile.U"/>, <see cref="ActTile.G"/>).
    /// </summary>
    public void Quantize(float* a, int m, int k, bool superBlocks, bool signPlanes = false)
    {
        BlockSize = superBlocks ? 256 : 32;
        SumGroup = superBlocks ? 16 : 32;
        K = k;
        SignPlanes = signPlanes;
        int nd = k / BlockSize, ns = k / SumGroup;
        Ensure(ref _q, (long)m * k);
        Ensure(ref _d, (long)m * nd);
        Ensure(ref _s, (long)m * ns);
        if (signPlanes)
        {
            Ensure(ref _u, (long)m * k);
            Ensure(ref _g, (long)m * k);
        }
        _src = a;
        _rows = m;
        _isa = KernelOptions.EffectiveIsa;
        int threads = KernelOptions.EffectiveThreads;
        // A few thousand values per item keep the pool's start-up (a few µs) below the work.
        _chunks = threads > 1 && (long)m * k >= 16384 ? Math.Min(m, 4 * threads) : 1;
        if (_chunks == 1) QuantizeRows(0, m);
        else WorkerPool.Run(_chunks, threads, _chunkBody ??= QuantizeChunk);
    }

    private void QuantizeChunk(int chunk)
    {
        var (r0, r1) = RowChunks.Range(chunk, _chunks, _rows);
        QuantizeRows(r0, r1);
    }

    private void QuantizeRows(int r0, int r1)
    {
        int k = K, bs = BlockSize, group = SumGroup;
        int nd = k / bs, ns = k / group;
        bool v512 = _isa == KernelIsa.Avx512 && Avx512F.IsSupported;
        bool v256 = !v512 && _isa is KernelIsa.Avx512 or KernelIsa.Avx2 && Vector256.IsHardwareAccelerated;
        fixed (sbyte* q0 = _q)
        fixed (float* d0 = _d)
        fixed (int* s0 = _s)
        {
            for (int r = r0; r < r1; r++)
            {
                float* x = _src + (nint)r * k;
                sbyte* q = q0 + (nint)r * k;
                float* d = d0 + (nint)r * nd;
                int* s = s0 + (nint)r * ns;
                for (int b = 0; b < nd; b++)
                {
                    float* xb = x + b * bs;
                    sbyte* qb = q + b * bs;
                    int* sb = s + b * (bs / group);
                    if (v512) Block512(xb, qb, d + b, sb, bs, group);
                    else if (v256) Block256(xb, qb, d + b, sb, bs, group);
                    else BlockScalar(xb, qb, d + b, sb, bs, group);
                }
                if (SignPlanes)
                    fixed (byte* u = _u, g = _g) SplitSigns(q, u + (nint)r * k, g + (nint)r * k, k);
            }
        }
    }

    /// <summary>|q| into <paramref name="u"/> and 0x10 where q &lt; 0 (else 0) into <paramref name="g"/>.</summary>
    private static void SplitSigns(sbyte* q, byte* u, byte* g, int k)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var bit = Vector512.Create((byte)0x10);
            for (; i + 64 <= k; i += 64)
            {
                var v = Vector512.Load(q + i);
                Vector512.Abs(v).AsByte().Store(u + i);
                (Vector512.LessThan(v, Vector512<sbyte>.Zero).AsByte() & bit).Store(g + i);
            }
        }
        for (; i < k; i++)
        {
            u[i] = (byte)Math.Abs(q[i]); // |q| ≤ 127
            g[i] = q[i] < 0 ? (byte)0x10 : (byte)0;
        }
    }

    /// <summary>The block's scale and inverse scale from its largest magnitude (d = 0 for an all-zero block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float InverseScale(float amax, float* d)
    {
        float scale = amax / 127f;
        *d = scale;
        return scale != 0 ? 1f / scale : 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block512(float* x, sbyte* q, float* d, int* s, int n, int group)
    {
        var m = Vector512<float>.Zero;
        for (int i = 0; i < n; i += 16) m = Vector512.MaxNative(m, Vector512.Abs(Vector512.Load(x + i)));
        var vid = Vector512.Create(InverseScale(HorizontalMax(Vector256.MaxNative(m.GetLower(), m.GetUpper())), d));
        var lim = Vector512.Create(127f);
        var sum = Vector512<int>.Zero;
        for (int i = 0; i < n; i += 16)
        {
            // Round half to even like the scalar path; the clamp only guards rounding at exactly 127.
            var v = Vector512.ConvertToInt32(Vector512.Round(Vector512.Min(Vector512.Max(Vector512.Load(x + i) * vid, -lim), lim)));
            Avx512F.ConvertToVector128SByte(v).Store(q + i); // vpmovdb: |v| ≤ 127, so truncation is exact
            sum += v;
            if ((i + 16) % group == 0)
            {
                *s++ = Vector512.Sum(sum);
                sum = Vector512<int>.Zero;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block256(float* x, sbyte* q, float* d, int* s, int n, int group)
    {
        var m = Vector256<float>.Zero;
        for (int i = 0; i < n; i += 8) m = Vector256.MaxNative(m, Vector256.Abs(Vector256.Load(x + i)));
        var vid = Vector256.Create(InverseScale(HorizontalMax(Vector128.MaxNative(m.GetLower(), m.GetUpper())), d));
        var lim = Vector256.Create(127f);
        var sum = Vector256<int>.Zero;
        for (int i = 0; i < n; i += 16)
        {
            var v0 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Min(Vector256.Max(Vector256.Load(x + i) * vid, -lim), lim)));
            var v1 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Min(Vector256.Max(Vector256.Load(x + i + 8) * vid, -lim), lim)));
            var w = Vector256.Narrow(v0, v1);
            Vector128.Store(Vector128.Narrow(w.GetLower(), w.GetUpper()), q + i);
            sum += v0 + v1;
            if ((i + 16) % group == 0)
            {
                *s++ = Vector256.Sum(sum);
                sum = Vector256<int>.Zero;
            }
        }
    }

    private static void BlockScalar(float* x, sbyte* q, float* d, int* s, int n, int group)
    {
        float amax = 0;
        for (int i = 0; i < n; i++) amax = MathF.Max(amax, MathF.Abs(x[i]));
        float id = InverseScale(amax, d);
        int sum = 0;
        for (int i = 0; i < n; i++)
        {
            int v = (int)float.Round(float.Clamp(x[i] * id, -127f, 127f));
            q[i] = (sbyte)v;
            sum += v;
            if ((i + 1) % group == 0)
            {
                *s++ = sum;
                sum = 0;
            }
        }
    }

    /// <summary>Largest of four lanes (all ≥ 0: absolute values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector128<float> v)
    {
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
        return v.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v) => HorizontalMax(Vector128.MaxNative(v.GetLower(), v.GetUpper()));

    private static void Ensure<T>(ref T[] array, long length)
    {
        if (array.Length < length) array = GC.AllocateUninitializedArray<T>(checked((int)Math.Max(length, 1)), pinned: true);
    }
}

/// <summary>Pointers to consecutive quantized activation rows from a given one on (tile kernels use up to four).</summary>
internal readonly unsafe struct ActTile(sbyte* q, nint qStride, float* d, int dStride, int* s, int sStride, byte* u = null, byte* g = null)
{
    /// <summary>int8 values of row <paramref name="j"/>.</summary>
    public sbyte* Q(int j) => q + j * qStride;
    /// <summary>Block scales of row <paramref name="j"/>.</summary>
    public float* D(int j) => d + j * dStride;
    /// <summary>Group sums of row <paramref name="j"/>.</summary>
    public int* S(int j) => s + j * sStride;
    /// <summary>Whether the tile carries the sign planes (<see cref="Q8Activations.Quantize"/>'s signPlanes).</summary>
    public bool HasSignPlanes => u != null;
    /// <summary>|q| of row <paramref name="j"/> as bytes (sign planes only).</summary>
    public byte* U(int j) => u + j * qStride;
    /// <summary>0x10 where row <paramref name="j"/>'s q is negative, else 0 (sign planes only).</summary>
    public byte* G(int j) => g + j * qStride;
}
