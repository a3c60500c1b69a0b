// The integer sums of a quad tile: one 512-bit int32 accumulator per activation row.
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// A quad tile's per-block integer sums (<c>R0</c>..<c>R3</c> for activation rows j..j+3, each with the
/// row quad's lanes), passed to and returned from the inlined helpers that handle one constant part of
/// a block, so the tile kernels can write a block out part by part the way the single-row kernels do
/// (a loop over the parts leaves the JIT computing offsets and shuffle masks per iteration). After
/// inlining the JIT keeps the four fields in registers.
/// </summary>
internal struct TileSums
{
    public Vector512<int> R0, R1, R2, R3;
}
