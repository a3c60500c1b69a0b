// The operands of an integer kernel as it sees them, and the exact dot they should give: shared by the kernel tests.
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Tests.Kernels;

internal static unsafe class QuantizedOperands
{
    /// <summary>
    /// q·d of the activations exactly as the kernels quantize them for a weight <paramref name="type"/>
    /// (32-value or 256-value blocks), or the fp32 values for types without an integer kernel.
    /// </summary>
    public static float[] Activations(DType type, float[] a, int m, int k)
    {
        if (QuantizedMatMul.SuperBlockActivations(type) is not bool super) return a;
        var acts = new Q8Activations();
        fixed (float* pa = a) acts.Quantize(pa, m, k, super);
        var result = new float[m * k];
        int bs = super ? 256 : 32;
        for (int i = 0; i < m; i++)
        {
            var tile = acts.Tile(i);
            for (int x = 0; x < k; x++) result[i * k + x] = tile.Q(0)[x] * tile.D(0)[x / bs];
        }
        return result;
    }

    /// <summary>Σ w·a of weight row <paramref name="row"/> and activation row <paramref name="i"/> in double, and Σ|w·a| (the error scale).</summary>
    public static (double Exact, double Magnitude) ExactDot(float[] w, float[] a, int row, int i, int k)
    {
        double exact = 0, mag = 0;
        for (int x = 0; x < k; x++)
        {
            double p = (double)w[(long)row * k + x] * a[i * k + x];
            exact += p;
            mag += Math.Abs(p);
        }
        return (exact, mag);
    }
}
