// The IQ4 row-quad kernels' VBMI path (the activation's sign moved onto the weight by vpermb) gives the bits of the VBMI-free path.
using System.Runtime.Intrinsics.X86;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Kernels.Quantized;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// For every type whose row-quad kernels read the activations' sign planes (IQ4_NL, IQ4_XS): products with
/// <see cref="ExecutionOptions.Vbmi"/> on (planes written, vpermb) and off (sign selected onto the activations)
/// are bit-identical — file rows and the interleaved copy, rows not a multiple of four, M = 1 (decode), the
/// four-row tiles (M = 3, 7, and 40 where routed), 1 and 2 threads. Runs only where the CPU has AVX512-VBMI;
/// elsewhere only the VBMI-free path exists and the other kernel tests cover it.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class SignPlaneKernelTests
{
    public static TheoryData<DType> Types()
    {
        var data = new TheoryData<DType>();
        foreach (var t in new[] { DType.IQ4_NL, DType.IQ4_XS }) data.Add(t);
        return data;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void VbmiPathGivesTheBitsOfThePlainPath(DType type)
    {
        if (!KernelOptions.IsSupported(KernelIsa.Avx512) || !Avx512BW.IsSupported || !Avx512Vbmi.IsSupported) return;
        var on = new ExecutionOptions { Isa = KernelIsa.Avx512, Threads = 1, Vbmi = true };
        var off = on with { Vbmi = false };
        using (KernelOptions.Use(on)) Assert.True(QuantizedMatMul.WantsSignPlanes(type, gemm: false), $"{type}: the VBMI path is not taken");
        using (KernelOptions.Use(off)) Assert.False(QuantizedMatMul.WantsSignPlanes(type, gemm: false), $"{type}: Vbmi = false still writes sign planes");

        const int k = 1024, n = 37;
        var weights = BlockTypes.RandomWeights(new Random(11 + (int)type), n * k);
        var packed = new byte[DTypeInfo.RowBytes(type, (long)n * k)];
        BlockQuantizer.QuantizeRows(type, weights, k, packed);
        var rng = new Random(3);
        fixed (byte* pw = packed)
        {
            var plain = new TensorView("w", type, [n, k], pw, packed.Length);
            foreach (var view in new[] { plain, plain.WithInterleavedCopy() })
                foreach (int m in new[] { 1, 3, 7, 40 })
                    foreach (int threads in new[] { 1, 2 })
                    {
                        var a = new float[m * k];
                        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * (i % 47 == 0 ? 12 : 1);
                        var want = new float[m * n];
                        var got = new float[m * n];
                        using (KernelOptions.Use(off with { Threads = threads })) MatMul.Multiply(a, m, view, want);
                        using (KernelOptions.Use(on with { Threads = threads })) MatMul.Multiply(a, m, view, got);
                        for (int i = 0; i < want.Length; i++)
                            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]),
                                $"{type} M={m} {threads} threads interleaved={view.Interleaved != null} [{i / n},{i % n}]: VBMI {got[i]:R} vs {want[i]:R}");
                    }
        }
    }
}
