// The quad-interleaved copy of a block-quantized weight matrix that the AVX-512 row-quad kernels stream.
using System.Runtime.CompilerServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Repacks rows 4q..4q+3 of a matrix into one stream of quad blocks (<see cref="IQuadLayout"/>):
/// the row-quad kernels then read each sixteen-byte chunk of four rows with one 64-byte load
/// instead of four loads and three inserts, and a quad is one sequential stream that the
/// hardware prefetcher follows (four interleaved short streams of a few hundred bytes each are
/// what it loses track of once the weights come from DRAM). This is llama.cpp's CPU "repack"
/// idea (its q4_K_8x8 etc.) in our row-quad shape. The copy has ⌈N/4⌉·4 rows: the last quad
/// repeats the final row, whose duplicate results are never stored. The file's data is only read.
/// </summary>
internal static unsafe class QuadInterleave
{
    /// <summary>Writes the interleaved copy of <paramref name="n"/> rows of <paramref name="rowBytes"/> bytes at <paramref name="rows"/> to <paramref name="dst"/> (⌈n/4⌉·4·rowBytes bytes).</summary>
    public static void Copy<TL>(byte* rows, nint rowBytes, int n, byte* dst) where TL : IQuadLayout
    {
        int block = TL.BlockBytes, odd = block % 16, chunks = block / 16;
        int nb = (int)(rowBytes / block);
        int chunkStart = TL.OddFirst ? odd : 0, oddStart = TL.OddFirst ? 0 : block - odd;
        int quads = (n + 3) / 4;
        for (int q = 0; q < quads; q++)
        {
            byte* quad = dst + (nint)q * 4 * rowBytes;
            for (int i = 0; i < 4; i++)
            {
                byte* src = rows + Math.Min(4 * q + i, n - 1) * rowBytes;
                for (int b = 0; b < nb; b++)
                {
                    byte* s = src + (nint)b * block;
                    byte* d = quad + (nint)4 * b * block;
                    for (int c = 0; c < chunks; c++)
                        Unsafe.CopyBlockUnaligned(d + InterleavedQuad<TL>.Offset(i, chunkStart + 16 * c), s + chunkStart + 16 * c, 16);
                    if (odd > 0) Unsafe.CopyBlockUnaligned(d + InterleavedQuad<TL>.Offset(i, oddStart), s + oddStart, (uint)odd);
                }
            }
        }
    }

    /// <summary>
    /// The inverse of <see cref="Copy{TL}"/> for part of one row: blocks <paramref name="firstBlock"/> ..
    /// + <paramref name="blocks"/> of row <paramref name="row"/>, read from the copy at <paramref name="copy"/>, written
    /// to <paramref name="dst"/> in the file's layout (the same bytes the file holds). Lets the products that do not
    /// read quads (the int8 GEMM's octet repacking, the fp32 GEMM's dequantization) take their weights from the copy,
    /// so once it exists the file's pages are not read again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called through a function pointer per row and K block: tier 0 code was 5× slower
    public static void Gather<TL>(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst) where TL : IQuadLayout
    {
        int block = TL.BlockBytes, odd = block % 16, chunks = block / 16;
        int chunkStart = TL.OddFirst ? odd : 0, oddStart = TL.OddFirst ? 0 : block - odd;
        int i = row & 3;
        byte* quad = copy + (nint)(row >> 2) * 4 * rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            byte* s = quad + (nint)4 * (firstBlock + b) * block;
            byte* d = dst + (nint)b * block;
            for (int c = 0; c < chunks; c++)
                Unsafe.CopyBlockUnaligned(d + chunkStart + 16 * c, s + InterleavedQuad<TL>.Offset(i, chunkStart + 16 * c), 16);
            if (odd > 0) Unsafe.CopyBlockUnaligned(d + oddStart, s + InterleavedQuad<TL>.Offset(i, oddStart), (uint)odd);
        }
    }
}

/// <summary>
/// A weight view's quad-interleaved copy (<see cref="QuadInterleave"/>), built on the first product
/// that can use it and shared by every copy of the view; its memory is an ordinary pinned array,
/// released with the last view that refers to it. Thread-safe. Where the view's bytes are a read-only
/// file mapping (the constructor's releaseFilePages), the mapping's pages are handed back once the copy is
/// built: every AVX-512 product then reads the copy (quads, or blocks read back from it), so the model
/// holds one copy of these weights; anything that still reads the rows faults them back in from the file.
/// </summary>
public sealed unsafe class InterleavedWeights
{
    private readonly object _gate = new();
    private readonly bool _releaseFilePages;
    private byte[]? _copy;
    private byte* _aligned;
    private bool _tooLarge;

    /// <param name="releaseFilePages">The view's bytes are a read-only file mapping whose pages may be handed back once the copy exists (<see cref="IO.MappedPages"/>).</param>
    public InterleavedWeights(bool releaseFilePages = false) => _releaseFilePages = releaseFilePages;

    /// <summary>Bytes held (0 until first use).</summary>
    public long Bytes => _copy?.Length ?? 0;

    /// <summary>
    /// The copy of <paramref name="w"/>'s rows, building it on first call with <paramref name="build"/>;
    /// null for a matrix too large for one array (it is then read in the file's layout).
    /// </summary>
    internal byte* Get(in TensorView w, delegate*<byte*, nint, int, byte*, void> build)
    {
        if (Volatile.Read(ref _copy) != null) return _aligned;
        lock (_gate)
        {
            if (_copy != null || _tooLarge) return _aligned;
            long rows = (w.Rows + 3) / 4 * 4;
            long size = checked(rows * w.RowByteLength);
            if (size + 64 > Array.MaxLength) { _tooLarge = true; return null; }
            // 64 bytes of slack so the copy can start on a cache line (pinned arrays are 8-byte aligned).
            var copy = GC.AllocateUninitializedArray<byte>(checked((int)(size + 64)), pinned: true);
            byte* start = (byte*)(((nint)Unsafe.AsPointer(ref copy[0]) + 63) & ~(nint)63);
            build(w.Pointer, (nint)w.RowByteLength, checked((int)w.Rows), start);
            _aligned = start;
            Volatile.Write(ref _copy, copy);
            if (_releaseFilePages) IO.MappedPages.Release(w.Pointer, w.ByteLength);
            return start;
        }
    }
}
