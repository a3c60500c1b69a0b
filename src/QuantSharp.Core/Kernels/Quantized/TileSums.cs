// The integer sums of a quad tile: one 512-bit int32 accumulator per activation row.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A quad tile's per-block integer sums (<c>R0</c>..<c>R3</c> for activation rows j..j+3, each with the
/// row quad's lanes), passed to and returned from the inlined helpers that handle one constant part of
/// a block, so the tile kernels can write a block out part by part the way the single-row kernels do
/// (a loop over the parts leaves the JIT computing offsets and shuffle masks per iteration). After
/// inlining the JIT keeps the four fields in registers.
/// </summary>
internal unsafe struct TileSums
{
    public Vector512<int> R0, R1, R2, R3;

    /// <summary>
    /// Adds one run of sixteen unsigned values per lane (<paramref name="q"/>, small enough that a pair sum fits int16)
    /// against the sixteen activations at each of <paramref name="y0"/>..<paramref name="y3"/>, scaled by the run's
    /// int16 sub-block <paramref name="scale"/> — the Q2_K/Q3_K step, the weights unpacked once for four rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TileSums AddRun(TileSums t, Vector512<byte> q, Vector512<short> scale, sbyte* y0, sbyte* y1, sbyte* y2, sbyte* y3)
    {
        t.R0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y0)), scale);
        t.R1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y1)), scale);
        t.R2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y2)), scale);
        t.R3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, RowQuad.Broadcast16(y3)), scale);
        return t;
    }
}
