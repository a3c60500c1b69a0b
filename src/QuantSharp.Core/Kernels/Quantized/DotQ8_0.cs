// Q8_0 weights · Q8_0 activations: 32-weight blocks of int8 with an fp16 scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels.Quantized;

/// <summary>
/// Both sides are signed, and vpdpbusd/vpmaddubsw want unsigned × signed, so the weight's sign is
/// moved onto the activation: |w| · sign(a, w) = w · a (|w| ≤ 127 as ggml never stores −128).
/// </summary>
internal unsafe struct DotQ8_0 : IQuantDot
{
    private const int BlockBytes = 34;

    public static bool SuperBlocks => false;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot256<TF>(byte* w, int nb, in ActTile a, int mt, float* results) where TF : struct, IDotFlavor
    {
        var acc = stackalloc Vector256<float>[IntDot.TileRows];
        for (int j = 0; j < mt; j++) acc[j] = Vector256<float>.Zero;
        for (int b = 0; b < nb; b++, w += BlockBytes)
        {
            float dw = IntDot.Half(w);
            var wq = Vector256.Load((sbyte*)(w + 2));
            var u = Avx2.Abs(wq);
            for (int j = 0; j < mt; j++)
            {
                var s = Avx2.Sign(Vector256.Load(a.Q(j) + b * 32), wq);
                var dot = IntDot.U8S8<TF>(Vector256<int>.Zero, u, s);
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
                sbyte* wq = (sbyte*)(wb + 2);
                int sum = 0;
                for (int i = 0; i < 32; i++) sum += wq[i] * q[i];
                acc += IntDot.Half(wb) * a.D(j)[b] * sum;
            }
            results[j] = acc;
        }
    }
}
