// C = A · Wᵀ for block-quantized W without dequantizing W: int8 activations, integer block dots.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The quantized path of <see cref="MatMul"/>. As ggml does, the activation rows are quantized once
/// per call to int8 (Q8_0-style 32-blocks or Q8_K-style 256-blocks, whichever the weight type pairs
/// with) and each weight block meets them in integer dot products, scaled once per block.
/// Every block weight type has such kernels (DotQ4_0.cs …); the dequantizing fallback (one weight
/// row to fp32, fp32 dot with the unquantized activations) remains for any type without one.
/// Work is split over weight rows in chunks sized from the shape only, and each output is reduced
/// the same way in any chunk, so results are bit-identical for any thread count.
/// </summary>
internal static unsafe class QuantizedMatMul
{
    // A thread's weight stream breaks at every chunk (the workers claim chunks in turn), and each break
    // costs a DRAM latency and a prefetcher ramp-up. 128 KB chunks (still L2-sized for the M > 1 row
    // loops) gave 2-thread MoE decode 1.25-1.3x the tokens/s of 32 KB ones on the bench's 8-expert model
    // (Q4_K_M 170 -> 247 t/s, `e2e --model moe-bench --threads 2`); 256 KB and 1 MB were no faster.
    private const int ChunkBytes = 128 * 1024;
    private const long ParallelThresholdBytes = 128 * 1024;
    private const int GemmChunkBytes = 64 * 1024;

    [ThreadStatic] private static Job? t_job;

    /// <summary>Whether <paramref name="t"/> has integer dot kernels (else the dequantizing fallback is used).</summary>
    public static bool HasIntegerKernel(DType t) => SuperBlockActivations(t) is not null;

    /// <summary>
    /// Whether <paramref name="t"/> has AVX-512 row-quad kernels (<see cref="RowQuad"/>), which the
    /// AVX-512 path uses for every M. They reduce in their own fixed order; types with GEMM tiles
    /// (<see cref="IQuantDot.GemmTiles"/>) reduce in that order on every path, the others' AVX2 and
    /// scalar kernels in another (each path is deterministic on its own).
    /// </summary>
    public static bool HasRowQuadKernel(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.Quads;
    }

    /// <summary>Whether <paramref name="t"/>'s row-quad kernel can read a quad-interleaved copy (<see cref="TensorView.WithInterleavedCopy"/>).</summary>
    public static bool HasInterleavedKernel(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.Interleaves;
    }

    /// <summary>
    /// From this many activation rows on, types with GEMM tiles (<see cref="IQuantDot.GemmTiles"/>)
    /// run the int8 GEMM: each group of eight weight rows is repacked once per call and multiplied
    /// against four activation rows at a time (AVX-512, AVX2 or scalar tiles). Below it the M = 1
    /// kernels run one activation row (or tile of four) at a time, as the repacking would not pay.
    /// Same bits either way.
    /// </summary>
    public const int Int8GemmMinRows = 8;

    /// <summary>Whether <paramref name="t"/>'s kernel reduces in the row-quad order on every ISA path (it has GEMM tiles).</summary>
    public static bool IsIsaExact(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.Tiles;
    }

    /// <summary>
    /// Whether a call with <paramref name="m"/> activation rows on <paramref name="t"/> weights takes
    /// the int8 GEMM under the current <see cref="KernelOptions"/> (also for M ≥
    /// <see cref="MatMul.QuantizedGemmMinRows"/>, where it replaces the fp32 dequantizing GEMM).
    /// </summary>
    public static bool UsesInt8Gemm(DType t, int m)
        => m >= Int8GemmMinRows && KernelOptions.Int8Gemm && IsIsaExact(t) && TileIsa(KernelOptions.EffectiveIsa) != TileKind.None
           && (m < MatMul.QuantizedGemmMinRows || Int8GemmRoutes.ReplacesFp32Gemm(t, KernelOptions.EffectiveIsa, m));

    /// <summary>Whether <paramref name="t"/>'s row-quad kernel has the four-activation-row tile (<see cref="IQuantDot.QuadTiles"/>).</summary>
    public static bool HasQuadTiles(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.QuadTiles;
    }

    /// <summary>
    /// Whether a product of <paramref name="m"/> ≥ <see cref="MatMul.QuantizedGemmMinRows"/> rows on <paramref name="t"/>
    /// stays on the integer row-quad tiles (AVX-512; <see cref="Int8GemmRoutes.QuadTilesReplaceFp32Gemm"/>).
    /// </summary>
    public static bool UsesQuadTiles(DType t, int m)
    {
        if (!KernelOptions.Int8Gemm || KernelOptions.EffectiveIsa != KernelIsa.Avx512 || !Avx512BW.IsSupported) return false;
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.QuadTiles && Int8GemmRoutes.QuadTilesReplaceFp32Gemm(t, m);
    }

    /// <summary>Which GEMM tile an ISA level runs.</summary>
    private enum TileKind { None, Avx512, Avx2, Vnni, Scalar }

    private static TileKind TileIsa(KernelIsa isa) => isa switch
    {
        KernelIsa.Avx512 when Avx512BW.IsSupported => TileKind.Avx512,
        KernelIsa.Avx2 when Avx2.IsSupported && Fma.IsSupported => AvxVnni.IsSupported ? TileKind.Vnni : TileKind.Avx2,
        KernelIsa.Avx512 or KernelIsa.Avx2 => TileKind.None,
        _ => TileKind.Scalar,
    };

    /// <summary>Whether MatMul accepts weights of <paramref name="t"/>.</summary>
    public static bool Supports(DType t) => BlockDequantizer.Supports(t) && t != DType.Q8_K;

    /// <summary>Whether the activations are quantized in 256-value blocks for <paramref name="t"/> (null: not quantized).</summary>
    public static bool? SuperBlockActivations(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) ? traits.SuperBlocks : null;
    }

    /// <summary>
    /// Whether products on <paramref name="t"/> weights quantize the activations with sign planes now (the kernel reads
    /// them, <see cref="KernelOptions.UsesVbmi"/>, and the product takes the row-quad kernels, not the GEMM tiles).
    /// </summary>
    private static bool OctetsFromQuads(DType t)
    {
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.OctetsFromQuads;
    }

    internal static bool WantsSignPlanes(DType t, bool gemm)
    {
        if (gemm || !KernelOptions.UsesVbmi || !Avx512BW.IsSupported) return false;
        var traits = new KernelTraits();
        return WithKernel(t, ref traits) && traits.SignPlanes;
    }

    /// <summary>Something done with the kernel of a weight type, chosen at compile time per type.</summary>
    private interface IKernelCall
    {
        void Call<TD>() where TD : struct, IQuantDot;
    }

    /// <summary>The one type → kernel table: calls <paramref name="call"/> with the kernel of <paramref name="t"/>; false if it has none.</summary>
    private static bool WithKernel<TC>(DType t, ref TC call) where TC : struct, IKernelCall
    {
        switch (t)
        {
            case DType.Q8_0: call.Call<DotQ8_0>(); return true;
            case DType.Q4_0: call.Call<DotQ4_0>(); return true;
            case DType.Q4_K: call.Call<DotQ4_K>(); return true;
            case DType.Q6_K: call.Call<DotQ6_K>(); return true;
            case DType.Q4_1: call.Call<DotQ4_1>(); return true;
            case DType.Q5_0: call.Call<DotQ5_0>(); return true;
            case DType.Q5_1: call.Call<DotQ5_1>(); return true;
            case DType.IQ4_NL: call.Call<DotIQ4_NL>(); return true;
            case DType.MXFP4: call.Call<DotMXFP4>(); return true;
            case DType.Q2_K: call.Call<DotQ2_K>(); return true;
            case DType.Q3_K: call.Call<DotQ3_K>(); return true;
            case DType.Q5_K: call.Call<DotQ5_K>(); return true;
            case DType.IQ4_XS: call.Call<DotIQ4_XS>(); return true;
            default: return false;
        }
    }

    /// <summary>A kernel's static properties.</summary>
    private struct KernelTraits : IKernelCall
    {
        public bool SuperBlocks, Quads, Tiles, Interleaves, QuadTiles, SignPlanes, OctetsFromQuads;
        public void Call<TD>() where TD : struct, IQuantDot
        {
            SuperBlocks = TD.SuperBlocks; Quads = TD.RowQuads; Tiles = TD.GemmTiles; Interleaves = TD.Interleaves; QuadTiles = TD.QuadTiles;
            SignPlanes = TD.SignPlanes; OctetsFromQuads = TD.OctetsFromQuads;
        }
    }

    /// <summary>The view's interleaved copy (built on first use) and its reader in the file's layout, or null where the type has none.</summary>
    private struct InterleavedCall(TensorView w) : IKernelCall
    {
        public byte* Quads;
        public delegate*<byte*, nint, int, int, int, byte*, void> Gather;
        public void Call<TD>() where TD : struct, IQuantDot
        {
            if (!TD.Interleaves) return;
            Quads = w.Interleaved!.Get(w, &InterleaveRows<TD>);
            Gather = &GatherBlocks<TD>;
        }
    }

    private static void InterleaveRows<TD>(byte* rows, nint rowBytes, int n, byte* dst) where TD : struct, IQuantDot
        => TD.Interleave(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherBlocks<TD>(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst) where TD : struct, IQuantDot
        => TD.Gather(copy, rowBytes, row, firstBlock, blocks, dst);

    /// <summary>
    /// The interleaved copy of <paramref name="w"/> where the AVX-512 kernels would read one (building it on first use),
    /// with <paramref name="gather"/> to read blocks of a row back in the file's layout; null otherwise. For the products
    /// that do not read quads (the fp32 dequantizing GEMM), so that once the copy exists the file's rows are not read again.
    /// </summary>
    internal static byte* InterleavedCopy(in TensorView w, out delegate*<byte*, nint, int, int, int, byte*, void> gather)
    {
        gather = null;
        if (w.Interleaved == null || KernelOptions.EffectiveIsa != KernelIsa.Avx512 || !Avx512BW.IsSupported) return null;
        var call = new InterleavedCall(w);
        WithKernel(w.DType, ref call);
        if (call.Quads == null) return null;
        gather = call.Gather;
        return call.Quads;
    }

    public static void Run(float* a, int m, in TensorView w, int n, int k, float* c)
    {
        var job = t_job ??= new Job();
        int chunks = Prepare(job, a, m, w, n, k, c, shared: null);
        int threads = KernelOptions.EffectiveThreads;
        if (chunks <= 1 || threads <= 1 || (!job.Gemm && (long)n * job.RowBytes < ParallelThresholdBytes))
            job.RunRows(0, n);
        else
            WorkerPool.Run(chunks, threads, job.Body);
    }

    /// <summary>
    /// Sets <paramref name="job"/> up for C = A·Wᵀ (chunking, the interleaved copy, the activations: quantized
    /// here, or <paramref name="shared"/>'s when another job of the same call already quantized the same rows
    /// for the same block size) and returns its number of chunks. Chunking depends on the shape only.
    /// </summary>
    private static int Prepare(Job job, float* a, int m, in TensorView w, int n, int k, float* c, Job? shared)
    {
        nint rowBytes = (nint)DTypeInfo.RowBytes(w.DType, k);
        // As many chunks as ChunkBytes asks for, of even size, so the last one is not a sliver.
        long chunkCount = Math.Max(1, ((long)n * rowBytes + ChunkBytes - 1) / ChunkBytes);
        int rowsPerChunk = (int)Math.Clamp((n + chunkCount - 1) / chunkCount, 1, 4096);
        int threads = KernelOptions.EffectiveThreads;
        bool gemm = UsesInt8Gemm(w.DType, m);
        if (gemm)
        {
            // Whole octets, about GemmChunkBytes of weights (the chunk's repacked copy stays in L2
            // while every activation row passes over it), but at least four chunks per thread.
            // Chunking never changes results: every output is the same tile arithmetic.
            int rows = (int)Math.Clamp(GemmChunkBytes / rowBytes, 8, 4096) & ~7;
            int perThread = ((n + 4 * threads - 1) / (4 * threads) + 7) & ~7;
            rowsPerChunk = Math.Max(8, Math.Min(rows, perThread));
        }
        var isa = KernelOptions.EffectiveIsa;
        // The int8 GEMM reads the copy too (its octets packed from the quads), so the file's rows are read only once;
        // a GEMM type whose layouts do not allow that (none today) keeps reading the rows.
        byte* quads = gemm && !OctetsFromQuads(w.DType) ? null : InterleavedCopy(w, out _);
        // Chunks of whole quads: the copy's quads start at rows 4q (same results, see Dot512Quad). GEMM chunks are whole octets already.
        if (quads != null) rowsPerChunk = (rowsPerChunk + 3) & ~3;
        job.Set(a, m, w.Pointer, rowBytes, w.DType, n, k, c, rowsPerChunk, isa, gemm, quads, shared);
        return (n + rowsPerChunk - 1) / rowsPerChunk;
    }

    /// <summary>
    /// Whether <see cref="RunBatch"/> takes products of <paramref name="m"/> rows on <paramref name="t"/> weights:
    /// types with integer kernels below <see cref="Int8GemmMinRows"/> (decode and small batches), where one call is
    /// a few to a hundred µs and a parallel call per product would spend a good part of it starting and joining threads.
    /// </summary>
    public static bool Batches(DType t, int m) => m < Int8GemmMinRows && HasIntegerKernel(t);

    [ThreadStatic] private static BatchJob? t_batch;

    /// <summary>
    /// Several products C_i = A_i·W_iᵀ of <paramref name="m"/> rows each (<paramref name="a"/>[i], <paramref name="c"/>[i]
    /// pointers, all W_i with <see cref="Batches"/> and the same K) as one parallel call: every product's chunks go to
    /// the workers together, and rows shared by several products (the same pointer) are quantized once. Each output is
    /// the same kernel arithmetic as <see cref="Run"/> gives it, so results are bit-identical to one call per product.
    /// </summary>
    public static void RunBatch(ReadOnlySpan<nint> a, int m, ReadOnlySpan<TensorView> w, int k, ReadOnlySpan<nint> c)
    {
        var batch = t_batch ??= new BatchJob();
        int count = w.Length;
        batch.Ensure(count);
        long bytes = 0;
        int chunks = 0;
        for (int i = 0; i < count; i++)
        {
            Job? shared = null;
            bool super = SuperBlockActivations(w[i].DType)!.Value;
            // Batches are below the int8 GEMM's threshold (Batches), so no product of one takes the GEMM tiles.
            bool planes = WantsSignPlanes(w[i].DType, gemm: false);
            for (int j = 0; j < i && shared is null; j++)
                if (a[j] == a[i] && SuperBlockActivations(w[j].DType) == super && WantsSignPlanes(w[j].DType, gemm: false) == planes)
                    shared = batch.Jobs[j];
            int n = checked((int)w[i].Rows);
            batch.FirstChunk[i] = chunks;
            chunks += Prepare(batch.Jobs[i], (float*)a[i], m, w[i], n, k, (float*)c[i], shared);
            bytes += n * (long)batch.Jobs[i].RowBytes;
        }
        batch.FirstChunk[count] = chunks;
        batch.Count = count;
        int threads = KernelOptions.EffectiveThreads;
        if (threads <= 1 || chunks <= 1 || bytes < ParallelThresholdBytes)
            for (int i = 0; i < count; i++) batch.Jobs[i].RunRows(0, checked((int)w[i].Rows));
        else
            WorkerPool.Run(chunks, threads, batch.Body);
    }

    /// <summary>The jobs of one <see cref="RunBatch"/> call and the map from a global chunk number to (job, chunk).</summary>
    private sealed class BatchJob
    {
        public Job[] Jobs = [];
        public int[] FirstChunk = [0];
        public int Count;
        public readonly Action<int> Body;

        public BatchJob() => Body = RunChunk;

        public void Ensure(int count)
        {
            if (Jobs.Length >= count) return;
            var grown = new Job[count];
            Jobs.CopyTo(grown, 0);
            for (int i = Jobs.Length; i < count; i++) grown[i] = new Job();
            Jobs = grown;
            FirstChunk = new int[count + 1];
        }

        private void RunChunk(int chunk)
        {
            int i = 0;
            while (chunk >= FirstChunk[i + 1]) i++; // a handful of products: a scan beats a search
            Jobs[i].RunChunk(chunk - FirstChunk[i]);
        }
    }

    /// <summary>One call's arguments, reused per calling thread so calls do not allocate.</summary>
    private sealed class Job
    {
        private readonly Q8Activations _own = new();
        private Q8Activations _acts;
        private float* _a, _c;
        private byte* _w, _quads;
        private nint _rowBytes;
        private DType _type;
        private int _m, _n, _k, _rowsPerChunk;
        private KernelIsa _isa;
        private bool _gemm;
        public readonly Action<int> Body;

        public Job()
        {
            Body = RunChunk;
            _acts = _own;
        }

        public bool Gemm => _gemm;

        public nint RowBytes => _rowBytes;

        /// <summary>The call's arguments; the activations are quantized here unless <paramref name="shared"/> (a job of the same batch, same rows and block size) already holds them.</summary>
        public void Set(float* a, int m, byte* w, nint rowBytes, DType type, int n, int k, float* c, int rowsPerChunk, KernelIsa isa, bool gemm,
            byte* quads, Job? shared)
        {
            _a = a; _m = m; _w = w; _quads = quads; _rowBytes = rowBytes; _type = type; _n = n; _k = k; _c = c; _rowsPerChunk = rowsPerChunk; _isa = isa; _gemm = gemm;
            _acts = shared?._acts ?? _own;
            if (shared is null && SuperBlockActivations(type) is bool super) _own.Quantize(a, m, k, super, WantsSignPlanes(type, gemm));
        }

        public void RunChunk(int chunk)
        {
            int r0 = chunk * _rowsPerChunk;
            RunRows(r0, Math.Min(_n, r0 + _rowsPerChunk));
        }

        public void RunRows(int r0, int r1)
        {
            var rows = new RowsCall(this, r0, r1);
            if (!WithKernel(_type, ref rows)) DequantizingRows(r0, r1);
        }

        /// <summary>Rows r0..r1 through the type's integer kernel.</summary>
        private readonly struct RowsCall(Job job, int r0, int r1) : IKernelCall
        {
            public void Call<TD>() where TD : struct, IQuantDot => job.Rows<TD>(r0, r1);
        }

        /// <summary>
        /// Activation tiles outer, weight rows inner: a tile's int8 rows stay in L1 while the chunk's
        /// weight rows (≈ <see cref="ChunkBytes"/>) stay in L2, and each weight block is unpacked once per tile.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Rows<TD>(int r0, int r1) where TD : struct, IQuantDot
        {
            int nb = _k / (TD.SuperBlocks ? 256 : 32);
            bool vnni = _isa == KernelIsa.Avx512 && AvxVnni.IsSupported;
            bool simd = vnni || (_isa is KernelIsa.Avx512 or KernelIsa.Avx2 && Avx2.IsSupported && Fma.IsSupported);
            float* res = stackalloc float[4 * IntDot.TileRows]; // quad tiles: 4 weight rows × 4 activation rows
            if (TD.GemmTiles && _gemm)
            {
                // Chunk-sized pieces whatever range the caller passes (one thread passes the whole matrix): a piece's
                // repacked octets stay in L2 while every activation row passes over them, where the whole matrix
                // repacked at once (16 MB for 1B's ffn) streamed from DRAM once per token block — one-thread prefill
                // at 1B ran at 0.7× llama.cpp and two threads at 0.9×. Pieces never change results.
                for (int p = r0; p < r1; p += _rowsPerChunk) GemmRows<TD>(p, Math.Min(r1, p + _rowsPerChunk), nb);
                return;
            }
            if (TD.RowQuads && _isa == KernelIsa.Avx512 && Avx512BW.IsSupported)
            {
                if (TD.Interleaves && _quads != null) InterleavedRows<TD>(r0, r1, nb, res);
                else QuadRows<TD>(r0, r1, nb, res);
                return;
            }
            if (_m == 1 && simd && TD.PairRows)
            {
                // Decode: two weight rows per pass share the activation loads.
                var one = _acts.Tile(0);
                int r = r0;
                for (; r + 2 <= r1; r += 2)
                {
                    byte* wr = _w + r * _rowBytes;
                    PrefetchRows(wr + 2 * _rowBytes, 2 * _rowBytes);
                    if (vnni) TD.Dot256Rows2<VnniFlavor>(wr, wr + _rowBytes, nb, one, res);
                    else TD.Dot256Rows2<Avx2Flavor>(wr, wr + _rowBytes, nb, one, res);
                    _c[r] = res[0];
                    _c[r + 1] = res[1];
                }
                for (; r < r1; r++)
                {
                    if (vnni) TD.Dot256<VnniFlavor>(_w + r * _rowBytes, nb, one, 1, res);
                    else TD.Dot256<Avx2Flavor>(_w + r * _rowBytes, nb, one, 1, res);
                    _c[r] = res[0];
                }
                return;
            }
            for (int m0 = 0; m0 < _m; m0 += IntDot.TileRows)
            {
                int mt = Math.Min(IntDot.TileRows, _m - m0);
                var tile = _acts.Tile(m0);
                for (int r = r0; r < r1; r++)
                {
                    byte* wr = _w + r * _rowBytes;
                    if (m0 == 0) PrefetchRows(wr + _rowBytes, _rowBytes);
                    if (vnni) TD.Dot256<VnniFlavor>(wr, nb, tile, mt, res);
                    else if (simd) TD.Dot256<Avx2Flavor>(wr, nb, tile, mt, res);
                    else TD.DotScalar(wr, nb, tile, mt, res);
                    for (int j = 0; j < mt; j++) _c[(nint)(m0 + j) * _n + r] = res[j];
                }
            }
        }

        /// <summary>
        /// AVX-512: four weight rows per pass (the last quad repeats its final row), each activation
        /// row in turn while the quad's weights are in L1, so every output is the same kernel
        /// arithmetic whatever M, chunk or thread.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void QuadRows<TD>(int r0, int r1, int nb, float* res) where TD : struct, IQuantDot
        {
            int last = r1 - 1;
            var acts = _acts.Tile(0); // all M rows: the kernel picks row j
            for (int r = r0; r < r1; r += 4)
            {
                byte* w0 = _w + r * _rowBytes;
                byte* w1 = _w + Math.Min(r + 1, last) * _rowBytes;
                byte* w2 = _w + Math.Min(r + 2, last) * _rowBytes;
                byte* w3 = _w + Math.Min(r + 3, last) * _rowBytes;
                byte* next = w0 + 4 * _rowBytes;
                int count = Math.Min(4, r1 - r);
                int j = 0;
                if (TD.QuadTiles)
                    for (; j + 1 < _m; j += 4)
                    {
                        int mt = Math.Min(4, _m - j);
                        TD.Dot512QuadTile(w0, w1, w2, w3, next, nb, acts, j, mt, res);
                        Store(res, j, mt, r, count);
                    }
                for (; j < _m; j++)
                {
                    TD.Dot512Quad(w0, w1, w2, w3, next, nb, acts, j, res);
                    float* c = _c + (nint)j * _n + r;
                    for (int i = 0; i < count; i++) c[i] = res[i];
                }
            }
        }

        /// <summary><see cref="QuadRows{TD}"/> on the interleaved copy: r0 is a multiple of four, quad r/4 starts at row r's offset.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void InterleavedRows<TD>(int r0, int r1, int nb, float* res) where TD : struct, IQuantDot
        {
            var acts = _acts.Tile(0);
            for (int r = r0; r < r1; r += 4)
            {
                byte* quad = _quads + r * _rowBytes;
                int count = Math.Min(4, r1 - r);
                int j = 0;
                if (TD.QuadTiles)
                    for (; j + 1 < _m; j += 4)
                    {
                        int mt = Math.Min(4, _m - j);
                        TD.Dot512InterleavedTile(quad, quad + 4 * _rowBytes, nb, acts, j, mt, res);
                        Store(res, j, mt, r, count);
                    }
                for (; j < _m; j++)
                {
                    TD.Dot512Interleaved(quad, quad + 4 * _rowBytes, nb, acts, j, res);
                    float* c = _c + (nint)j * _n + r;
                    for (int i = 0; i < count; i++) c[i] = res[i];
                }
            }
        }

        /// <summary>A quad tile's results[4t + i] to C[j + t, r + i] for t &lt; mt, i &lt; count.</summary>
        private void Store(float* res, int j, int mt, int r, int count)
        {
            for (int t = 0; t < mt; t++)
            {
                float* c = _c + (nint)(j + t) * _n + r;
                for (int i = 0; i < count; i++) c[i] = res[4 * t + i];
            }
        }

        [ThreadStatic] private static PackBuffer? t_pack;

        /// <summary>
        /// Int8 GEMM over rows r0..r1: the chunk's octets (eight rows; the ragged last one repeats
        /// its final row) are repacked once into a per-thread buffer, then for each block of
        /// activation rows (≈ 64 KB of int8, L2) every octet (L1) meets them four rows at a time.
        /// The GGUF data is only read; the repacked copy lives for this call only.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void GemmRows<TD>(int r0, int r1, int nb) where TD : struct, IQuantDot
        {
            int octets = (r1 - r0 + 7) / 8;
            nint octetBytes = (nint)nb * TD.OctetBlockBytes;
            var pack = t_pack ??= new PackBuffer();
            byte* packed = pack.Get(octets * octetBytes);
            // With the interleaved copy (Prepare gives it only to OctetsFromQuads types), octets come straight from its quads.
            byte** rows = stackalloc byte*[8];
            float* res = stackalloc float[8 * IntDot.TileRows];
            for (int o = 0; o < octets; o++)
            {
                int r = r0 + 8 * o;
                if (_quads != null)
                {
                    // Quad B of a ragged last octet may lie past the copy (⌈N/4⌉ quads): quad A stands in, its results are not stored.
                    byte* quadA = _quads + (nint)(r >> 2) * 4 * _rowBytes;
                    byte* quadB = r + 4 < _n ? quadA + 4 * _rowBytes : quadA;
                    Octet.FromQuads(quadA, quadB, nb, (int)(_rowBytes / nb), packed + o * octetBytes);
                    continue;
                }
                for (int i = 0; i < 8; i++) rows[i] = _w + Math.Min(r + i, r1 - 1) * _rowBytes;
                TD.PackOctet(rows, nb, packed + o * octetBytes);
            }
            var kind = TileIsa(_isa);
            int tokenBlock = Math.Max(IntDot.TileRows, (64 * 1024 / _k) & ~(IntDot.TileRows - 1));
            for (int m0 = 0; m0 < _m; m0 += tokenBlock)
            {
                int m1 = Math.Min(_m, m0 + tokenBlock);
                for (int o = 0; o < octets; o++)
                {
                    int r = r0 + 8 * o, count = Math.Min(8, r1 - r);
                    byte* po = packed + o * octetBytes;
                    for (int j = m0; j < m1; j += IntDot.TileRows)
                    {
                        int mt = Math.Min(IntDot.TileRows, m1 - j);
                        var tile = _acts.Tile(j);
                        switch (kind)
                        {
                            case TileKind.Avx512: TD.Tile512(po, nb, tile, mt, res); break;
                            case TileKind.Vnni: TD.Tile256<VnniFlavor>(po, nb, tile, mt, res); break;
                            case TileKind.Avx2: TD.Tile256<Avx2Flavor>(po, nb, tile, mt, res); break;
                            default: TD.TileScalar(po, nb, tile, mt, res); break;
                        }
                        for (int t = 0; t < mt; t++)
                        {
                            float* c = _c + (nint)(j + t) * _n + r;
                            // A whole octet is one 32-byte copy per token (the scalar loop was 7 % of a Q4_0 prefill).
                            if (count == 8) Vector256.Store(Vector256.Load(res + t * 8), c);
                            else for (int i = 0; i < count; i++) c[i] = res[t * 8 + i];
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Prefetches the rows the 256-bit paths multiply next, one burst per call: the kernels read
        /// one or two rows at a time, short streams that the hardware prefetcher does not follow
        /// into DRAM-resident weights (the row-quad kernels prefetch as they go instead).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void PrefetchRows(byte* p, nint bytes)
        {
            if (!Sse.IsSupported) return;
            for (nint o = 0; o < bytes; o += 64) Sse.Prefetch0(p + o);
        }

        [ThreadStatic] private static float[]? t_row;

        /// <summary>A thread's 64-byte aligned repacking buffer, grown on demand and kept for the thread's lifetime.</summary>
        private sealed class PackBuffer
        {
            private byte* _p;
            private nint _size;

            public byte* Get(nint size)
            {
                if (size > _size)
                {
                    if (_p != null) NativeMemory.AlignedFree(_p);
                    _p = (byte*)NativeMemory.AlignedAlloc((nuint)size, 64);
                    _size = size;
                }
                return _p;
            }

            ~PackBuffer()
            {
                if (_p != null) NativeMemory.AlignedFree(_p);
            }
        }

        /// <summary>Fallback for types without integer kernels: dequantize a row, fp32 dot with every activation row.</summary>
        private void DequantizingRows(int r0, int r1)
        {
            if (t_row is null || t_row.Length < _k) t_row = GC.AllocateUninitializedArray<float>(_k, pinned: true);
            var row = t_row.AsSpan(0, _k);
            int blocks = _k / DTypeInfo.BlockSize(_type);
            fixed (float* pr = row)
            {
                for (int r = r0; r < r1; r++)
                {
                    BlockDequantizer.DequantizeBlocks(_type, _w + r * _rowBytes, pr, blocks);
                    for (int i = 0; i < _m; i++)
                        _c[(nint)i * _n + r] = System.Numerics.Tensors.TensorPrimitives.Dot(row, new ReadOnlySpan<float>(_a + (nint)i * _k, _k));
                }
            }
        }
    }
}
