// Contract of a per-type integer dot kernel: one weight row against a tile of quantized activations.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A weight format with integer dot kernels. Implementations read each weight block once and use it
/// for all <c>mt</c> (≤ <see cref="IntDot.TileRows"/>) activation rows; every output is reduced in a
/// fixed order that does not depend on the tile or thread it runs in.
/// </summary>
internal unsafe interface IQuantDot
{
    /// <summary>Whether activations use 256-value blocks with 16-value sums (Q8_K) rather than Q8_0's 32.</summary>
    static abstract bool SuperBlocks { get; }

    /// <summary>results[j] = row · activation row j, 256-bit SIMD (VNNI when <typeparamref name="TF"/> says so).</summary>
    static abstract void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor;

    /// <summary>The same in plain scalar integer arithmetic.</summary>
    static abstract void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results);

    /// <summary>Whether the kernel implements <see cref="Dot256Rows2"/> (optional; default no).</summary>
    static virtual bool PairRows => false;

    /// <summary>
    /// Decode (M = 1): weight rows <paramref name="w0"/> and <paramref name="w1"/> against activation
    /// row 0, sharing its loads; results[i] must be bit-identical to <see cref="Dot256"/> with mt = 1
    /// on row i. Only called when <see cref="PairRows"/> is true.
    /// </summary>
    static virtual void Dot256Rows2<TF>(byte* w0, byte* w1, int nb, in ActTile a, float* results) where TF : struct, IDotFlavor
        => throw new NotSupportedException("this kernel has no two-row decode path");

    /// <summary>Whether the kernel implements <see cref="Dot512Quad"/> (optional; default no).</summary>
    static virtual bool RowQuads => false;

    /// <summary>
    /// AVX-512: weight rows <paramref name="w0"/>..<paramref name="w3"/> against activation row
    /// <paramref name="j"/> of <paramref name="a"/>, one row per 128-bit lane (<see cref="RowQuad"/>).
    /// results[i] depends only on row i and the activations, never on the other three rows, so any
    /// grouping of rows into quads (and any M) gives the same bits. Used for every M on the AVX-512 path.
    /// <paramref name="next"/>: where the next quad's rows start, for <see cref="RowQuad.PrefetchNext"/>.
    /// </summary>
    static virtual void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => throw new NotSupportedException("this kernel has no row-quad path");

    /// <summary>Whether the kernel also reads the quad-interleaved copy (<see cref="QuadInterleave"/>; optional, default no).</summary>
    static virtual bool Interleaves => false;

    /// <summary>Writes the quad-interleaved copy of <paramref name="n"/> rows (see <see cref="QuadInterleave.Copy{TL}"/>).</summary>
    static virtual void Interleave(byte* rows, nint rowBytes, int n, byte* dst)
        => throw new NotSupportedException("this kernel has no interleaved layout");

    /// <summary>Reads blocks back out of the interleaved copy in the file's layout (see <see cref="QuadInterleave.Gather{TL}"/>).</summary>
    static virtual void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => throw new NotSupportedException("this kernel has no interleaved layout");

    /// <summary>
    /// <see cref="Dot512Quad"/> on the quad at <paramref name="quad"/> of the interleaved copy (next quad at
    /// <paramref name="next"/>): the same arithmetic on the same register contents, so bit-identical results.
    /// </summary>
    static virtual void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => throw new NotSupportedException("this kernel has no interleaved layout");

    /// <summary>Whether the kernel implements <see cref="Dot512QuadTile"/> and <see cref="Dot512InterleavedTile"/> (optional; default no).</summary>
    static virtual bool QuadTiles => false;

    /// <summary>
    /// Whether the row-quad kernels read the activations' sign planes (<see cref="ActTile.HasSignPlanes"/>) when
    /// present, with AVX-512 VBMI (optional; default no). Without the planes they take their VBMI-free path; both
    /// give the same bits.
    /// </summary>
    static virtual bool SignPlanes => false;

    /// <summary>
    /// <see cref="Dot512Quad"/> for activation rows j..j+<paramref name="mt"/>−1 (mt ≤ 4) at once, each weight block
    /// unpacked once: results[4t + i] = weight row i · activation row j + t, bit-identical to the single-row kernel.
    /// </summary>
    static virtual void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => throw new NotSupportedException("this kernel has no row-quad tile");

    /// <summary><see cref="Dot512QuadTile"/> on the interleaved copy.</summary>
    static virtual void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => throw new NotSupportedException("this kernel has no row-quad tile");

    /// <summary>
    /// Whether the kernel implements the int8 GEMM tiles (<see cref="PackOctet"/>, <see cref="Tile512"/>,
    /// <see cref="Tile256"/>, <see cref="TileScalar"/>; optional, default no). Such a kernel reduces in
    /// the row-quad order (<see cref="QuadLanes"/>) on every path, M = 1 included, so its results do
    /// not depend on M, ISA or thread count.
    /// </summary>
    static virtual bool GemmTiles => false;

    /// <summary>
    /// Whether the packed octet can be built straight from two quads of the interleaved copy (<see cref="Octet.FromQuads"/>:
    /// a quad block is the rows' fp16 d then their sixteen-byte chunks, and the octet block is the scale header then those
    /// chunks). A GEMM type without it keeps packing from the file's rows.
    /// </summary>
    static virtual bool OctetsFromQuads => false;

    /// <summary>Bytes per block of a packed octet (eight weight rows) written by <see cref="PackOctet"/>.</summary>
    static virtual int OctetBlockBytes => 0;

    /// <summary>
    /// Repacks <paramref name="nb"/> blocks of eight weight rows (<paramref name="rows"/>[0..8),
    /// pointers into the GGUF data, which is only read) into the interleaved layout
    /// <see cref="Tile512"/> reads: per block, the two row quads' data side by side, scales already
    /// converted. Writes nb·<see cref="OctetBlockBytes"/> bytes at <paramref name="dst"/>.
    /// </summary>
    static virtual void PackOctet(byte** rows, int nb, byte* dst)
        => throw new NotSupportedException("this kernel has no GEMM tile");

    /// <summary>
    /// AVX-512 int8 GEMM tile for prefill: a packed octet (8 weight rows as two row quads) against
    /// <see cref="IntDot.TileRows"/> activation rows of <paramref name="a"/> (rows from
    /// <paramref name="mt"/> on repeat row mt − 1), each weight block unpacked once for all of them.
    /// results[t·8 + i] = weight row i · activation row t, bit-identical to <see cref="Dot512Quad"/>
    /// for that pair: the same integer lanes and the same float operations in the same order; only
    /// the loads and the unpacking are shared. Only called when <see cref="GemmTiles"/> is true.
    /// </summary>
    static virtual void Tile512(byte* packed, int nb, in ActTile a, int mt, float* results)
        => throw new NotSupportedException("this kernel has no GEMM tile");

    /// <summary>
    /// The AVX2 twin of <see cref="Tile512"/> (VNNI when <typeparamref name="TF"/> says so): the same
    /// packed octet, the same results layout and bit for bit the same results, as kernels with GEMM
    /// tiles reduce in the row-quad order on every ISA (<see cref="QuadLanes"/>).
    /// </summary>
    static virtual void Tile256<TF>(byte* packed, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
        => throw new NotSupportedException("this kernel has no GEMM tile");

    /// <summary>The scalar twin of <see cref="Tile512"/>; writes results for activation rows 0..mt only.</summary>
    static virtual void TileScalar(byte* packed, int nb, in ActTile a, int mt, float* results)
        => throw new NotSupportedException("this kernel has no GEMM tile");
}

/// <summary>Compile-time choice between VNNI dot instructions and the AVX2 maddubs sequence.</summary>
internal interface IDotFlavor
{
    /// <summary>Whether to emit vpdpbusd / vpdpwssd.</summary>
    static abstract bool Vnni { get; }
}

/// <summary>AVX-VNNI (VEX vpdpbusd/vpdpwssd; present on AMD Zen 4/5 and Intel since Alder Lake).</summary>
internal struct VnniFlavor : IDotFlavor { public static bool Vnni => true; }

/// <summary>AVX2 vpmaddubsw + vpmaddwd.</summary>
internal struct Avx2Flavor : IDotFlavor { public static bool Vnni => false; }

/// <summary>Integer building blocks shared by the kernels.</summary>
internal static class IntDot
{
    /// <summary>Activation rows processed per weight-row pass.</summary>
    public const int TileRows = 4;

    /// <summary>
    /// acc + Σ of groups of four u8×s8 products. Without VNNI the pairwise sums go through int16:
    /// safe because callers keep u·s pairs ≤ 2·127·127 &lt; 32767.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> U8S8<TF>(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) where TF : struct, IDotFlavor
        => TF.Vnni ? AvxVnni.MultiplyWideningAndAdd(acc, u, s)
                   : Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One));

    /// <summary>
    /// acc + Σ of groups of four u8×s8 products of two operand pairs (the 512-bit form is
    /// <see cref="RowQuad.U8S8Twice"/>). Without VNNI both pairs' int16 pair sums are added before
    /// widening, one vpmaddwd for both: callers keep |u·s| pair sums of both pairs together below 32768.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> U8S8Twice<TF>(Vector256<int> acc, Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1) where TF : struct, IDotFlavor
        => TF.Vnni ? AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(acc, u0, s0), u1, s1)
                   : Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u0, s0) + Avx2.MultiplyAddAdjacent(u1, s1), Vector256<short>.One));

    /// <summary>acc + pairwise int16 products (scales applied to maddubs partial sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pairs<TF>(Vector256<int> acc, Vector256<short> p, Vector256<short> scale) where TF : struct, IDotFlavor
        => TF.Vnni ? AvxVnni.MultiplyWideningAndAdd(acc, p, scale) : Avx2.Add(acc, Avx2.MultiplyAddAdjacent(p, scale));

    /// <summary>u8×s8 products summed in adjacent pairs to int16 (vpmaddubsw).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairsU8S8(Vector256<byte> u, Vector256<sbyte> s) => Avx2.MultiplyAddAdjacent(u, s);

    /// <summary>32 nibbles of 16 bytes in ggml's order: low nibbles first (lower lane), then high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<byte> Nibbles32(byte* p)
    {
        var v = Vector128.Load(p);
        var m = Vector128.Create((byte)0x0F);
        return Vector256.Create(v & m, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & m);
    }

    private static readonly float Pow2_112 = BitConverter.Int32BitsToSingle((127 + 112) << 23);

    /// <summary>
    /// fp16 at <paramref name="p"/> as fp32, exactly. (float)Half is an out-of-line call of ~20
    /// instructions and .NET has no F16C intrinsic; for finite values, placing the half's exponent
    /// and mantissa 13 bits up gives a float 2^-112 times the value (subnormals included), so one
    /// multiply by 2^112 and the sign bit finish it. Infinities and NaNs take the slow path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Half(byte* p)
    {
        int h = Unsafe.ReadUnaligned<ushort>(p);
        if ((h & 0x7C00) == 0x7C00) return (float)BitConverter.UInt16BitsToHalf((ushort)h);
        float magnitude = BitConverter.Int32BitsToSingle((h & 0x7FFF) << 13) * Pow2_112;
        return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(magnitude) | ((h & 0x8000) << 16));
    }
}
