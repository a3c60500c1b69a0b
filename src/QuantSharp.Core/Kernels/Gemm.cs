// Blocked matrix product C = A·Wᵀ for prefill (M > 1): packs weight tiles once, reuses them for all rows.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// GEMM driver. Work items are (block of <see cref="NC"/> weight rows) × (block of activation
/// rows). For each K block of <see cref="KC"/> a work item converts its weight tile to fp32 once,
/// transposed into NR-wide panels in a thread-local buffer (L2-sized), then runs the microkernel
/// over all its activation rows. K blocking keeps a panel (NR×KC) and an A sliver (MR×KC) in L1;
/// partial sums go through C exactly (fp32 store and reload), so blocking never changes results.
/// </summary>
internal static unsafe class Gemm
{
    /// <summary>Weight rows per work item; a multiple of every kernel's NR.</summary>
    internal const int NC = 128;

    /// <summary>K elements per cache block.</summary>
    internal const int KC = 256;

    [ThreadStatic] private static Job? t_job;
    [ThreadStatic] private static Scratch? t_scratch;

    public static void Run(float* a, int m, in TensorView w, int n, int k, float* c)
    {
        var job = t_job ??= new Job();
        // Weights with an interleaved copy are read from it (in the file's layout again, block by block): once the
        // copy exists the file's pages are not read again, so the model holds one copy of its weights.
        byte* quads = Quantized.QuantizedMatMul.InterleavedCopy(w, out var gather);
        job.Set(a, m, w.Pointer, w.DType, n, k, c, KernelOptions.EffectiveIsa);
        job.SetSource(quads, gather);
        int threads = KernelOptions.EffectiveThreads;
        int mr = job.MR;
        int nBlocks = (n + NC - 1) / NC;
        int mBlocks = 1;
        if (threads > 1 && nBlocks < 2 * threads)
        {
            // Too few weight blocks to keep every thread busy: also split the rows of A, but keep
            // at least 4 microkernel heights per block so the packing stays amortised.
            int wanted = (2 * threads + nBlocks - 1) / nBlocks;
            mBlocks = Math.Max(1, Math.Min(wanted, m / (4 * mr)));
        }
        int rowsPerBlock = (m + mBlocks - 1) / mBlocks;
        rowsPerBlock = (rowsPerBlock + mr - 1) / mr * mr;
        mBlocks = (m + rowsPerBlock - 1) / rowsPerBlock;
        job.SetBlocks(nBlocks, rowsPerBlock);
        int items = nBlocks * mBlocks;
        if (items == 1 || threads <= 1)
            for (int i = 0; i < items; i++) job.Body(i);
        else
            WorkerPool.Run(items, threads, job.Body);
    }

    /// <summary>Arguments of one call, reused per calling thread so no closure is allocated.</summary>
    private sealed class Job
    {
        private float* _a, _c;
        private byte* _w, _quads;
        private delegate*<byte*, nint, int, int, int, byte*, void> _gather;
        private DType _dtype;
        private int _m, _n, _k, _nBlocks, _rowsPerBlock;
        private KernelIsa _isa;
        public readonly Action<int> Body;

        public Job() => Body = RunItem;

        public int MR => _isa switch
        {
            KernelIsa.Avx512 => GemmKernelAvx512.MR,
            KernelIsa.Avx2 => GemmKernelAvx2.MR,
            KernelIsa.Vector128 => GemmKernel128.MR,
            _ => GemmKernelScalar.MR,
        };

        public void Set(float* a, int m, byte* w, DType dtype, int n, int k, float* c, KernelIsa isa)
        {
            _a = a; _m = m; _w = w; _dtype = dtype; _n = n; _k = k; _c = c; _isa = isa;
        }

        public void SetBlocks(int nBlocks, int rowsPerBlock) { _nBlocks = nBlocks; _rowsPerBlock = rowsPerBlock; }

        /// <summary>The weights' interleaved copy and its reader (<see cref="Quantized.QuadInterleave.Gather{TL}"/>), or null: the file's rows.</summary>
        public void SetSource(byte* quads, delegate*<byte*, nint, int, int, int, byte*, void> gather) { _quads = quads; _gather = gather; }

        private void RunItem(int item)
        {
            int nb = item % _nBlocks, mb = item / _nBlocks;
            int j0 = nb * NC, j1 = Math.Min(_n, j0 + NC);
            int i0 = mb * _rowsPerBlock, i1 = Math.Min(_m, i0 + _rowsPerBlock);
            switch (_isa)
            {
                case KernelIsa.Avx512: Block<GemmKernelAvx512>(i0, i1, j0, j1); break;
                case KernelIsa.Avx2: Block<GemmKernelAvx2>(i0, i1, j0, j1); break;
                case KernelIsa.Vector128: Block<GemmKernel128>(i0, i1, j0, j1); break;
                default: Block<GemmKernelScalar>(i0, i1, j0, j1); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Block<TK>(int i0, int i1, int j0, int j1) where TK : struct, IGemmKernel
        {
            int mr = TK.MR, nr = TK.NR;
            var scratch = t_scratch ??= new Scratch();
            float* packed = scratch.Packed;
            float* ctile = scratch.CTile;
            int cols = j1 - j0;
            int panels = (cols + nr - 1) / nr;
            int k = _k, n = _n;
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                bool acc = k0 > 0;
                Pack(_w, _quads, _gather, _dtype, k, j0, cols, k0, kc, nr, packed, scratch.Row, scratch.Blocks);
                int i = i0;
                for (; i + mr <= i1; i += mr)
                {
                    float* ai = _a + (nint)i * k + k0;
                    for (int p = 0; p < panels; p++)
                    {
                        float* bp = packed + (nint)p * nr * kc;
                        float* cp = _c + (nint)i * n + j0 + p * nr;
                        int valid = Math.Min(nr, cols - p * nr);
                        if (valid == nr)
                        {
                            TK.Full(ai, k, bp, kc, cp, n, acc);
                        }
                        else
                        {
                            // Ragged last panel: run the full-width kernel on a scratch tile.
                            if (acc) CopyTile(cp, n, ctile, nr, mr, valid);
                            TK.Full(ai, k, bp, kc, ctile, nr, acc);
                            CopyTile(ctile, nr, cp, n, mr, valid);
                        }
                    }
                }
                for (; i < i1; i++)
                {
                    float* ai = _a + (nint)i * k + k0;
                    for (int p = 0; p < panels; p++)
                    {
                        float* bp = packed + (nint)p * nr * kc;
                        float* cp = _c + (nint)i * n + j0 + p * nr;
                        int valid = Math.Min(nr, cols - p * nr);
                        if (valid == nr)
                        {
                            TK.Row(ai, bp, kc, cp, acc);
                        }
                        else
                        {
                            if (acc) CopyTile(cp, n, ctile, nr, 1, valid);
                            TK.Row(ai, bp, kc, ctile, acc);
                            CopyTile(ctile, nr, cp, n, 1, valid);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Converts W[j0 .. j0+cols, k0 .. k0+kc] to fp32 in panel order: panel p, element (kk, jj) at
    /// <c>dst[p·nr·kc + kk·nr + jj]</c>; rows past <paramref name="cols"/> in the last panel are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pack(byte* w, byte* quads, delegate*<byte*, nint, int, int, int, byte*, void> gather, DType dtype, int k, int j0, int cols,
        int k0, int kc, int nr, float* dst, float* rowBuf, byte* blockBuf)
    {
        // Dense types: one "block" per element. Block types: KC and K are whole numbers of blocks
        // (K is checked by MatMul; KC = 256 is a multiple of every block size), so a segment is
        // whole blocks and dequantizes exactly as ggml does.
        bool blocks = DTypeInfo.IsBlockQuantized(dtype);
        int bs = DTypeInfo.BlockSize(dtype), blockBytes = DTypeInfo.BlockBytes(dtype);
        nint rowBytes = (nint)(k / bs) * blockBytes;
        int panels = (cols + nr - 1) / nr;
        for (int p = 0; p < panels; p++)
        {
            float* panel = dst + (nint)p * nr * kc;
            for (int jj = 0; jj < nr; jj++)
            {
                int j = p * nr + jj;
                float* d = panel + jj;
                if (j >= cols)
                {
                    for (int kk = 0; kk < kc; kk++) d[(nint)kk * nr] = 0f;
                    continue;
                }
                byte* src = w + (nint)(j0 + j) * rowBytes + (nint)(k0 / bs) * blockBytes;
                float* s;
                if (dtype == DType.F32)
                {
                    s = (float*)src;
                }
                else if (blocks)
                {
                    if (quads != null)
                    {
                        gather(quads, rowBytes, j0 + j, k0 / bs, kc / bs, blockBuf);
                        src = blockBuf;
                    }
                    BlockDequantizer.DequantizeBlocks(dtype, src, rowBuf, kc / bs);
                    s = rowBuf;
                }
                else
                {
                    // Exact widening of the row segment, vectorised by FloatConversion.
                    FloatConversion.ToFloat32(dtype, new ReadOnlySpan<byte>(src, kc * blockBytes), new Span<float>(rowBuf, kc));
                    s = rowBuf;
                }
                // Transpose into the panel: the stride-nr stores stay within an L1-resident panel.
                for (int kk = 0; kk < kc; kk++) d[(nint)kk * nr] = s[kk];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyTile(float* src, nint lds, float* dst, nint ldd, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(src + r * lds, cols).CopyTo(new Span<float>(dst + r * ldd, cols));
    }

    /// <summary>Per-thread, 64-byte aligned buffers, allocated once per thread and kept for its lifetime.</summary>
    private sealed class Scratch
    {
        public readonly float* Packed;
        public readonly float* Row;
        public readonly float* CTile;
        /// <summary>A K block of one row read back from an interleaved copy: at most KC weights of ≤ 8.5 bits (Q8_0: 272 bytes).</summary>
        public readonly byte* Blocks;

        public Scratch()
        {
            Blocks = (byte*)NativeMemory.AlignedAlloc((nuint)(2 * KC), 64);
            Packed = (float*)NativeMemory.AlignedAlloc((nuint)(NC * KC * sizeof(float)), 64);
            Row = (float*)NativeMemory.AlignedAlloc((nuint)(KC * sizeof(float)), 64);
            CTile = (float*)NativeMemory.AlignedAlloc((nuint)(16 * 64 * sizeof(float)), 64);
        }

        ~Scratch()
        {
            NativeMemory.AlignedFree(Packed);
            NativeMemory.AlignedFree(Row);
            NativeMemory.AlignedFree(CTile);
            NativeMemory.AlignedFree(Blocks);
        }
    }
}
