// Q5_K weights · Q8_K activations: 256-weight super-blocks, eight 32-weight sub-blocks of 5-bit values with 6-bit scale and min.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels.Dequant;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Q4_K with a fifth bit: sub-block s takes nibbles from qs vector s/2 (low nibbles for even s,
/// high for odd) and its fifth bit from bit s of the 32 qh bytes, giving an unsigned 0..31.
/// Σ w·a = d·Σ_s sc_s·Σ(q·a) − dmin·Σ_s m_s·Σa_s, the min term from Q8_K's 16-value sums.
/// </summary>
internal unsafe struct DotQ5_K : IQuantDot, IQuadLayout
{
    private const int BlockBytes = 176;

    public static bool SuperBlocks => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        var accMin = stackalloc Vector256<float>[IntDot.TileRows];
        var q = stackalloc Vector256<byte>[8];
        var scale = stackalloc Vector256<short>[8];
        int* mins = stackalloc int[16];
        for (int j = 0; j < mt; j++) { acc[j] = Vector256<float>.Zero; accMin[j] = Vector256<float>.Zero; }
        var low = Vector256.Create((byte)0x0F);
        var fifth = Vector256.Create((byte)0x10);
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float d = WeightBits.Fp16(w), dmin = WeightBits.Fp16(w + 2);
            for (int s = 0; s < 8; s++)
            {
                KQuantDequant.ScaleMinK4(s, w + 4, out int sc, out int mn);
                scale[s] = Vector256.Create((short)sc);
                mins[2 * s] = mins[2 * s + 1] = mn;
            }
            var qh = Vector256.Load(w + 16).AsUInt16();
            for (int c = 0; c < 4; c++)
            {
                var raw = Vector256.Load(w + 48 + 32 * c);
                // Bit s of each qh byte moved to bit 4; bits shifted in from the neighbour byte are masked off.
                var h0 = Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 2 * c), 4).AsByte() & fifth;
                var h1 = Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 2 * c + 1), 4).AsByte() & fifth;
                q[2 * c] = (raw & low) | h0;
                q[2 * c + 1] = (Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & low) | h1;
            }
            var min0 = Vector256.Load(mins);
            var min1 = Vector256.Load(mins + 8);
            for (int j = 0; j < mt; j++)
            {
                sbyte* aq = a.Q(j) + b * 256;
                var sumi = Vector256<int>.Zero;
                for (int s = 0; s < 8; s++)
                    sumi = IntDot.Pairs<TF>(sumi, IntDot.PairsU8S8(q[s], Vector256.Load(aq + 32 * s)), scale[s]);
                float da = a.D(j)[b];
                acc[j] = LaneSums.Accumulate(acc[j], sumi, d * da);
                accMin[j] = LaneSums.Accumulate(accMin[j], LaneSums.Products16(min0, min1, a.S(j) + b * 16), dmin * da);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = LaneSums.Sum(acc[j]) - LaneSums.Sum(accMin[j]);
    }

    public static bool RowQuads => true;

    /// <summary>
    /// AVX-512 row quad (see <see cref="DotQ4_K.Dot512Quad"/>, whose block head and min term this shares):
    /// the fifth bit of sub-block s is bit s of the qh byte of the same element, moved to bit 4 and
    /// OR-ed into the nibble; pair sums stay below 2·2·31·128 &lt; 32768.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot512Quad(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new RowPointers(w0, w1, w2, w3), next, nb, a, j, results);

    public static bool Interleaves => true;

    public static bool OddFirst => false;

    static int IQuadLayout.BlockBytes => BlockBytes;

    public static void Interleave(byte* rows, nint rowBytes, int n, byte* dst) => QuadInterleave.Copy<DotQ5_K>(rows, rowBytes, n, dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gather(byte* copy, nint rowBytes, int row, int firstBlock, int blocks, byte* dst)
        => QuadInterleave.Gather<DotQ5_K>(copy, rowBytes, row, firstBlock, blocks, dst);

    public static void Dot512Interleaved(byte* quad, byte* next, int nb, in ActTile a, int j, float* results)
        => Quad(new InterleavedQuad<DotQ5_K>(quad), next, nb, a, j, results);

    /// <summary>The row-quad kernel over either layout (<see cref="IQuadSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, float* results) where TQ : struct, IQuadSource
    {
        sbyte* aq = a.Q(j);
        float* ad = a.D(j);
        int* asum = a.S(j);
        var acc = Vector512<float>.Zero;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes, aq += 256)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var head = src.Load16(ob, 0);
            var sm = DotQ4_K.ScalesAndMins(head);
            var minSum = DotQ4_K.MinSum(sm, asum + b * 16);
            var qh0 = src.Load16(ob, 16).AsUInt16(); // elements 0..15 of every sub-block
            var qh1 = src.Load16(ob, 32).AsUInt16(); // elements 16..31
            // Written out per quarter (not a loop) so each load offset, shift and scale shuffle is a constant.
            var isum = (Quarter(src, ob, 0, aq, sm, qh0, qh1) + Quarter(src, ob, 1, aq, sm, qh0, qh1))
                       + (Quarter(src, ob, 2, aq, sm, qh0, qh1) + Quarter(src, ob, 3, aq, sm, qh0, qh1));
            var dd = RowQuad.FirstWords(head); // d | dmin of each row
            var da = Vector128.Create(ad[b]);
            var d = RowQuad.Fp16x4(dd) * da;
            var dmin = RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16)) * -da;
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(minSum), RowQuad.Spread(dmin), acc);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), RowQuad.Spread(d), acc);
        }
        RowQuad.Sum(acc, results);
    }

    public static bool QuadTiles => true;

    public static void Dot512QuadTile(byte* w0, byte* w1, byte* w2, byte* w3, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new RowPointers(w0, w1, w2, w3), next, nb, a, j, mt, results);

    public static void Dot512InterleavedTile(byte* quad, byte* next, int nb, in ActTile a, int j, int mt, float* results)
        => QuadTile(new InterleavedQuad<DotQ5_K>(quad), next, nb, a, j, mt, results);

    /// <summary>
    /// <see cref="Quad{TQ}"/> for activation rows j..j+3 (rows from <paramref name="mt"/> on repeat row
    /// j + mt − 1): each block's scales, nibbles and fifth bits are unpacked once for the four, and every
    /// (weight row, activation row) pair gets the single-row kernel's operations (the min term's FMA first,
    /// then the block's), so the same bits. results[4t + i] = weight row i · activation row j + t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuadTile<TQ>(TQ src, byte* next, int nb, in ActTile a, int j, int mt, float* results) where TQ : struct, IQuadSource
    {
        int j1 = j + Math.Min(1, mt - 1), j2 = j + Math.Min(2, mt - 1), j3 = j + Math.Min(3, mt - 1);
        sbyte* q0 = a.Q(j), q1 = a.Q(j1), q2 = a.Q(j2), q3 = a.Q(j3);
        float* d0 = a.D(j), d1 = a.D(j1), d2 = a.D(j2), d3 = a.D(j3);
        int* s0 = a.S(j), s1 = a.S(j1), s2 = a.S(j2), s3 = a.S(j3);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        nint ob = 0;
        for (int b = 0; b < nb; b++, ob += BlockBytes)
        {
            RowQuad.PrefetchNext(next, ob, BlockBytes);
            var head = src.Load16(ob, 0);
            var sm = DotQ4_K.ScalesAndMins(head);
            var dd = RowQuad.FirstWords(head);
            var wd = RowQuad.Fp16x4(dd);
            var wmin = RowQuad.Fp16x4(Vector128.ShiftRightLogical(dd, 16));
            acc0 = DotQ4_K.MinTerm(acc0, sm, s0 + b * 16, wmin, d0[b]);
            acc1 = DotQ4_K.MinTerm(acc1, sm, s1 + b * 16, wmin, d1[b]);
            acc2 = DotQ4_K.MinTerm(acc2, sm, s2 + b * 16, wmin, d2[b]);
            acc3 = DotQ4_K.MinTerm(acc3, sm, s3 + b * 16, wmin, d3[b]);
            var qh0 = src.Load16(ob, 16).AsUInt16();
            var qh1 = src.Load16(ob, 32).AsUInt16();
            int o = b * 256;
            var t = TileQuarter(default, src, ob, 0, sm, qh0, qh1, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 1, sm, qh0, qh1, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 2, sm, qh0, qh1, q0 + o, q1 + o, q2 + o, q3 + o);
            t = TileQuarter(t, src, ob, 3, sm, qh0, qh1, q0 + o, q1 + o, q2 + o, q3 + o);
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R0), RowQuad.Spread(wd * Vector128.Create(d0[b])), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R1), RowQuad.Spread(wd * Vector128.Create(d1[b])), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R2), RowQuad.Spread(wd * Vector128.Create(d2[b])), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(t.R3), RowQuad.Spread(wd * Vector128.Create(d3[b])), acc3);
        }
        RowQuad.Sum(acc0, results);
        RowQuad.Sum(acc1, results + 4);
        RowQuad.Sum(acc2, results + 8);
        RowQuad.Sum(acc3, results + 12);
    }

    /// <summary>Quarter <paramref name="k"/> (a constant at every call) of a quad block against four activation rows, each offset by 64k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TileSums TileQuarter<TQ>(TileSums t, TQ src, nint ob, int k, Vector512<sbyte> sm, Vector512<ushort> qh0, Vector512<ushort> qh1,
        sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3) where TQ : struct, IQuadSource
    {
        var nibble = Vector512.Create((byte)0x0F);
        var fifth = Vector512.Create((byte)0x10);
        var v0 = src.Load16(ob, 48 + 32 * k);
        var v1 = src.Load16(ob, 64 + 32 * k);
        int s = 2 * k;
        var l0 = (v0 & nibble) | Fifth(qh0, s, fifth);
        var l1 = (v1 & nibble) | Fifth(qh1, s, fifth);
        var h0 = (Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble) | Fifth(qh0, s + 1, fifth);
        var h1 = (Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble) | Fifth(qh1, s + 1, fifth);
        var sc0 = DotQ4_K.Scale(sm, s);
        var sc1 = DotQ4_K.Scale(sm, s + 1);
        int o = 64 * k;
        t.R0 += DotQ4_K.SubBlocks(l0, l1, h0, h1, sc0, sc1, y0 + o);
        t.R1 += DotQ4_K.SubBlocks(l0, l1, h0, h1, sc0, sc1, y1 + o);
        t.R2 += DotQ4_K.SubBlocks(l0, l1, h0, h1, sc0, sc1, y2 + o);
        t.R3 += DotQ4_K.SubBlocks(l0, l1, h0, h1, sc0, sc1, y3 + o);
        return t;
    }

    /// <summary>
    /// Quarter <paramref name="k"/> of a quad block (sub-blocks 2k and 2k+1) against one activation row; callers
    /// pass a constant k so that, once inlined, offsets, shifts and shuffles are constants (see DotQ4_K.Quarter).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Quarter<TQ>(TQ src, nint ob, int k, sbyte* aq, Vector512<sbyte> sm, Vector512<ushort> qh0, Vector512<ushort> qh1)
        where TQ : struct, IQuadSource
    {
        var nibble = Vector512.Create((byte)0x0F);
        var fifth = Vector512.Create((byte)0x10);
        var v0 = src.Load16(ob, 48 + 32 * k);
        var v1 = src.Load16(ob, 64 + 32 * k);
        sbyte* y = aq + 64 * k;
        int s = 2 * k;
        var pLow = Avx512BW.MultiplyAddAdjacent((v0 & nibble) | Fifth(qh0, s, fifth), RowQuad.Broadcast16(y))
                   + Avx512BW.MultiplyAddAdjacent((v1 & nibble) | Fifth(qh1, s, fifth), RowQuad.Broadcast16(y + 16));
        var pHigh = Avx512BW.MultiplyAddAdjacent((Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & nibble) | Fifth(qh0, s + 1, fifth), RowQuad.Broadcast16(y + 32))
                    + Avx512BW.MultiplyAddAdjacent((Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & nibble) | Fifth(qh1, s + 1, fifth), RowQuad.Broadcast16(y + 48));
        return Avx512BW.MultiplyAddAdjacent(pLow, DotQ4_K.Scale(sm, s)) + Avx512BW.MultiplyAddAdjacent(pHigh, DotQ4_K.Scale(sm, s + 1));
    }

    /// <summary>Bit <paramref name="s"/> of every qh byte at bit 4 (16-bit shifts; what crosses a byte is masked off).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Fifth(Vector512<ushort> qh, int s, Vector512<byte> fifth)
        => Vector512.ShiftLeft(Vector512.ShiftRightLogical(qh, s), 4).AsByte() & fifth;

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        float* acc = stackalloc float[8];
        float* accMin = stackalloc float[8];
        int* lanes = stackalloc int[8];
        int* minLanes = stackalloc int[8];
        int* scales = stackalloc int[8];
        int* mins = stackalloc int[16];
        for (int j = 0; j < mt; j++)
        {
            new Span<float>(acc, 8).Clear();
            new Span<float>(accMin, 8).Clear();
            byte* wb = w;
            for (int b = 0; b < nb; b++, wb += BlockBytes)
            {
                sbyte* aq = a.Q(j) + b * 256;
                for (int s = 0; s < 8; s++)
                {
                    KQuantDequant.ScaleMinK4(s, wb + 4, out scales[s], out int mn);
                    mins[2 * s] = mins[2 * s + 1] = mn;
                }
                LaneSums.Clear(lanes);
                LaneSums.Clear(minLanes);
                for (int e = 0; e < 256; e++)
                {
                    int s = e >> 5, l = e & 31;
                    int nibble = (wb[48 + 32 * (s >> 1) + l] >> (4 * (s & 1))) & 0xF;
                    int qv = nibble | ((wb[16 + l] >> s) & 1) << 4;
                    lanes[l >> 2] += scales[s] * qv * aq[e];
                }
                LaneSums.AddProducts16(minLanes, mins, a.S(j) + b * 16, 1);
                float da = a.D(j)[b];
                LaneSums.Accumulate(acc, lanes, WeightBits.Fp16(wb) * da);
                LaneSums.Accumulate(accMin, minLanes, WeightBits.Fp16(wb + 2) * da);
            }
            results[j] = LaneSums.Sum(acc) - LaneSums.Sum(accMin);
        }
    }
}
