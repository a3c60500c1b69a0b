// IQ4_NL weights · Q8_0 activations: 32-weight blocks of 4-bit indices into a non-linear int8 table, fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// vpshufb turns the nibbles into the table's signed values (|v| ≤ 127, never 0); as in Q8_0 the
/// sign moves onto the activation so the dot is |v| (u8) × sign(a, v) (s8).
/// </summary>
internal unsafe struct DotIQ4_NL : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 18;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        if (mt == 1) { Dot256Row<TF>(w, nb, a.Q(0), a.D(0), a.S(0), results); return; }
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w);
            var v = WeightBits.Iq4Values(IntDot.Nibbles32(w + 2));
            var u = Avx2.Abs(v);
            for (int j = 0; j < mt; j++)
            {
                var s = Avx2.Sign(Vector256.Load(a.Q(j) + b * 32), v);
                var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, s);
                acc[j] = LaneSums.Accumulate(acc[j], dot, d * a.D(j)[b]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]);
    }

    /// <summary>One activation row (GEMV) with a register accumulator; see DotQ4_1.Dot256Row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot256Row<TF>(byte* w, int nb, sbyte* q, float* da, int* sa, float* result) where TF : struct, IDotFlavor
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes, q += 32)
        {
            var v = WeightBits.Iq4Values(IntDot.Nibbles32(w + 2));
            var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, Avx2.Abs(v), Avx2.Sign(Vector256.Load(q), v));
            acc = LaneSums.Accumulate(acc, dot, WeightBits.Fp16(w) * da[b]);
        }
        *result = LaneSums.Sum(acc);
    }

    public static bool RowQuads => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
    {
        if (a.HasSignPlanes) Quad<RowPointers, WeightSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);
        else Quad<RowPointers, ActivationSigns>(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);
    }

    public static bool SignPlanes => true;

    public static bool Interleaves => true;

    public static bool OddFirst => true;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotIQ4_NL>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotIQ4_NL>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
    {
        if (a.HasSignPlanes) Quad<InterleavedQuad<DotIQ4_NL>, WeightSigns>(new InterleavedQuad<DotIQ4_NL>(quad), next, nb, a, j, results);
        else Quad<InterleavedQuad<DotIQ4_NL>, ActivationSigns>(new InterleavedQuad<DotIQ4_NL>(quad), next, nb, a, j, results);
    }

    /// <summary>
    /// The row-quad kernel over either layout (<see cref="IQuadSource"/>): row lane l sums values 4l..4l+3 and
    /// 16+4l..16+4l+3 of a block exactly, one conversion and one FMA by d·da per block (the block layout and
    /// two-blocks-per-pass scale conversion of <see cref="DotQ4_0"/>). <typeparamref name="TS"/>: how the signs are
    /// applied (<see cref="IIq4Signs"/>; the same integers either way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ, TS>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource where TS : struct, IIq4Signs
    {
        var row = new Iq4ActRow(a, j);
        float* d = a.D(j);
        var acc = Vector512<float>.Zero;
        nint off = 0, at = 0;
        int b = 0;
        for (; b + 2 <= nb; b += 2, off += 2 * BlockBytes, at += 64)
        {
            RowQuad.PrefetchNext(next, off, 2 * BlockBytes);
            var scales = RowQuad.Fp16x8(Vector256.Create(src.Halves(off, 0), src.Halves(off + BlockBytes, 0)))
                         * Vector256.Create(Vector128.Create(d[b]), Vector128.Create(d[b + 1]));
            acc = Block<TS>(src.Load16(off, 2), row, at, scales.GetLower(), acc);
            acc = Block<TS>(src.Load16(off + BlockBytes, 2), row, at + 32, scales.GetUpper(), acc);
        }
        for (; b < nb; b++, off += BlockBytes, at += 32)
        {
            RowQuad.PrefetchNext(next, off, BlockBytes);
            var scale = RowQuad.Fp16x4(src.Halves(off, 0)) * Vector128.Create(d[b]);
            acc = Block<TS>(src.Load16(off, 2), row, at, scale, acc);
        }
        RowQuad.Sum(acc, results);
    }

    /// <summary>One block of the quad (16 index bytes per row) against row <paramref name="r"/>'s 32 activations at <paramref name="at"/>, one FMA by the rows' scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Block<TS>(Vector512<byte> packed, in Iq4ActRow r, nint at, Vector128<float> scale, Vector512<float> acc) where TS : struct, IIq4Signs
    {
        var u = TS.Unpack(packed);
        TS.Pairs(u, r, at, out var low, out var high);
        var dot = Avx512BW.MultiplyAddAdjacent(low, Vector512<short>.One) + Avx512BW.MultiplyAddAdjacent(high, Vector512<short>.One);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(dot), RowQuad.Spread(scale), acc);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        var kv = LegacyDequant.Iq4NlValues;
        float* acc = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                byte* qs = wb + 2;
                LaneSums.Clear(lanes);
                for (int i = 0; i < 16; i++)
                {
                    lanes[i >> 2] += kv[qs[i] & 0xF] * q[i];
                    lanes[(i + 16) >> 2] += kv[qs[i] >> 4] * q[i + 16];
                }
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * a.D(j)[b]);
            }
            results[j] = LaneSums.Sum(acc);
        }
    }
}
