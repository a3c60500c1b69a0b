// Q4_0 weights · Q8_0 activations: 32-weight blocks of 4-bit values offset by 8, fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// The nibbles (0..15) go straight in as the unsigned operand; the −8 offset is applied exactly in
/// integers as −8·Σa, seeded into lane 0 of the block's accumulator from the precomputed block sum.
/// </summary>
internal unsafe struct DotQ4_0 : IQuantDot
{
    private const int BlockBytes = 18;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float dw = IntDot.Half(w);
            var u = IntDot.Nibbles32(w + 2);
            for (int j = 0; j < mt; j++)
            {
                var seed = Vector256.CreateScalar(-8 * a.S(j)[b]);
                var dot = IntDot.U8S8<TF>(seed, u, Vector256.Load(a.Q(j) + b * 32));
                acc[j] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(dw * a.D(j)[b]), acc[j]);
            }
        }
        for (int j = 0; j < mt; j++) results[j] = Vector256.Sum(acc[j]);
    }

    public static void DotScalar(byte* w, int nb, in ActTile a, int mt, float* results)
    {
        for (int j = 0; j < mt; j++)
        {
            float acc = 0;
            byte* wb = w;
            sbyte* q = a.Q(j);
            for (int b = 0; b < nb; b++, wb += BlockBytes, q += 32)
            {
                byte* qs = wb + 2;
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += ((qs[i] & 0xF) - 8) * q[i] + ((qs[i] >> 4) - 8) * q[i + 16];
                acc += IntDot.Half(wb) * a.D(j)[b] * sum;
            }
            results[j] = acc;
        }
    }
}
