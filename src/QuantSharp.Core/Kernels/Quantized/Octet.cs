// Shared pieces of the int8 GEMM's packed octets (eight weight rows as two row quads) and of the tiles that read them.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Every packed octet block starts with the two quads' per-row fp32 scales, spread as the row-quad
/// kernels spread them (quad q's row i in floats 16q + 4i .. 16q + 4i + 3), so a 512-bit tile loads
/// one quad's scales with one load and a 256-bit tile one row pair's. Tile results are stored as
/// results[t·8 + row] for activation row t.
/// </summary>
internal static unsafe class Octet
{
    /// <summary>Bytes of the scale header at the start of every packed octet block.</summary>
    public const int ScaleBytes = 128;

    /// <summary>Writes octet row <paramref name="row"/>'s scale <paramref name="s"/> into its four lanes of the block header at <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreScale(byte* block, int row, float s)
    {
        float* lanes = (float*)block + ScaleIndex(row);
        lanes[0] = lanes[1] = lanes[2] = lanes[3] = s;
    }

    /// <summary>Row <paramref name="row"/>'s scale in the block header at <paramref name="block"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* block, int row) => ((float*)block)[ScaleIndex(row)];

    private static int ScaleIndex(int row) => (row >> 2) * 16 + (row & 3) * 4;

    /// <summary>
    /// Stores a 256-bit tile's sums for one row quad: accumulators per activation row t (c{t}a: the
    /// quad's rows 0 and 1, c{t}b: rows 2 and 3) at <paramref name="results"/> + t·8 (+2 for b).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreQuad(float* results, Vector256<float> c0a, Vector256<float> c0b, Vector256<float> c1a, Vector256<float> c1b,
        Vector256<float> c2a, Vector256<float> c2b, Vector256<float> c3a, Vector256<float> c3b)
    {
        QuadLanes.Sum(c0a, results); QuadLanes.Sum(c0b, results + 2);
        QuadLanes.Sum(c1a, results + 8); QuadLanes.Sum(c1b, results + 10);
        QuadLanes.Sum(c2a, results + 16); QuadLanes.Sum(c2b, results + 18);
        QuadLanes.Sum(c3a, results + 24); QuadLanes.Sum(c3b, results + 26);
    }

    /// <summary>Stores a 512-bit tile's sums: accumulators per activation row t (c{t}a: quad 0, c{t}b: quad 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* results, Vector512<float> c0a, Vector512<float> c0b, Vector512<float> c1a, Vector512<float> c1b,
        Vector512<float> c2a, Vector512<float> c2b, Vector512<float> c3a, Vector512<float> c3b)
    {
        RowQuad.Sum(c0a, results); RowQuad.Sum(c0b, results + 4);
        RowQuad.Sum(c1a, results + 8); RowQuad.Sum(c1b, results + 12);
        RowQuad.Sum(c2a, results + 16); RowQuad.Sum(c2b, results + 20);
        RowQuad.Sum(c3a, results + 24); RowQuad.Sum(c3b, results + 28);
    }

    /// <summary>
    /// Packs an octet straight from two quads of the interleaved copy, for the types whose quad block is the four
    /// rows' fp16 d (8 bytes) followed by their sixteen-byte chunks (Q4_0, Q8_0: <see cref="IQuantDot.OctetsFromQuads"/>)
    /// and whose packed octet block is this header then quad 0's and quad 1's chunk bytes unchanged. Per block: one
    /// eight-wide fp16 conversion (<see cref="RowQuad.Fp16x8"/>, the same bits as PackOctet's scalar conversion) and
    /// 64-byte copies, where reading the rows back (<see cref="QuadInterleave.Gather{TL}"/>) and packing them cost
    /// twice the time of the tile work itself at M = 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FromQuads(byte* quadA, byte* quadB, int nb, int blockBytes, byte* dst)
    {
        int chunkBytes = 4 * (blockBytes - 2), octetBytes = ScaleBytes + 2 * chunkBytes;
        for (int b = 0; b < nb; b++, dst += octetBytes)
        {
            byte* a = quadA + (nint)4 * b * blockBytes, c = quadB + (nint)4 * b * blockBytes;
            var halves = Vector256.Create(
                System.Runtime.Intrinsics.X86.Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(a)).AsUInt16()),
                System.Runtime.Intrinsics.X86.Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(c)).AsUInt16()));
            var d = RowQuad.Fp16x8(halves);
            RowQuad.Spread(d.GetLower()).Store((float*)dst);
            RowQuad.Spread(d.GetUpper()).Store((float*)(dst + 64));
            for (int o = 0; o < chunkBytes; o += 64)
            {
                Vector512.Load(a + 8 + o).Store(dst + ScaleBytes + o);
                Vector512.Load(c + 8 + o).Store(dst + ScaleBytes + chunkBytes + o);
            }
        }
    }
}
