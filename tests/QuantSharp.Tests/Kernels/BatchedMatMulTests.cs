// MatMul.MultiplyShared / MultiplyBatch (one parallel call for several decode products) change no bit.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// Batched products (q/k/v and gate/up sharing their input; a mixture of experts' k experts at once) give
/// every output exactly what one <see cref="MatMul.Multiply"/> per product gives: mixed block types (Q8_0
/// and Q4_K activations differ, Q4_K and Q6_K share), shared and separate inputs, M below and above the
/// batching limit, 1 and 2 threads, every ISA, weights with and without the interleaved copy, and float
/// weights (which fall back to one call each). Bad operands get errors naming the tensor.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
public sealed unsafe class BatchedMatMulTests
{
    private const int K = 512;

    [Fact]
    public void BatchesGiveEveryProductItsOwnCallsBits()
    {
        // Row counts: ragged quads, and Q4_K big enough that every batch holding it passes the 128 KB threshold of the threaded path.
        var specs = new (DType Type, int Rows)[] { (DType.Q4_K, 420), (DType.Q8_0, 19), (DType.Q6_K, 64), (DType.Q4_0, 6), (DType.F32, 5) };
        var buffers = specs.Select((s, i) => BlockTypes.Quantize(s.Type, BlockTypes.RandomWeights(new Random(i), s.Rows * K), s.Rows, K)).ToArray();
        var handles = buffers.Select(b => System.Runtime.InteropServices.GCHandle.Alloc(b, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
        try
        {
            foreach (bool interleaved in new[] { false, true })
            {
                var views = specs.Select((s, i) => View(s.Type, s.Rows, handles[i], buffers[i], interleaved)).ToArray();
                var rng = new Random(7);
                foreach (var isa in new[] { KernelIsa.Scalar, KernelIsa.Avx2, KernelIsa.Avx512 })
                {
                    if (!KernelOptions.IsSupported(isa)) continue;
                    foreach (int threads in new[] { 1, 2 })
                        foreach (int m in new[] { 1, 3, 8, 33 })
                            using (new KernelScope(isa, threads))
                            {
                                string where = $"{isa} {threads} threads M={m} interleaved={interleaved}";
                                CheckShared(views, m, rng, where);
                                CheckBatch(views, m, rng, where);
                            }
                }
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }
    }

    private static TensorView View(DType type, int rows, System.Runtime.InteropServices.GCHandle h, byte[] data, bool interleaved)
    {
        var v = new TensorView($"w.{type}", type, [rows, K], (byte*)h.AddrOfPinnedObject(), data.Length);
        return interleaved ? v.WithInterleavedCopy() : v;
    }

    private static float[] Activations(Random rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * (i % 53 == 0 ? 15 : 1);
        return a;
    }

    private static void CheckShared(TensorView[] w, int m, Random rng, string where)
    {
        var a = Activations(rng, m * K);
        var want = w.Select(v => new float[m * v.Rows]).ToArray();
        for (int i = 0; i < w.Length; i++) MatMul.Multiply(a, m, w[i], want[i]);
        var got = w.Select(v => new float[m * v.Rows]).ToArray();
        MatMul.MultiplyShared(a, m, w[0], got[0], w[1], got[1], w[2], got[2]);
        MatMul.MultiplyShared(a, m, w[3], got[3], w[4], got[4]);
        for (int i = 0; i < w.Length; i++) AssertSameBits(want[i], got[i], $"shared {w[i].Name} {where}");
    }

    private static void CheckBatch(TensorView[] w, int m, Random rng, string where)
    {
        // Separate inputs (the stride of the largest output: the down projections of k experts) and one shared input.
        int cStride = m * w.Max(v => (int)v.Rows);
        foreach (int aStride in new[] { 0, m * K + 16 })
        {
            var a = Activations(rng, (w.Length - 1) * aStride + m * K);
            var want = new float[w.Length * cStride];
            for (int i = 0; i < w.Length; i++)
                MatMul.Multiply(a.AsSpan(i * aStride, m * K), m, w[i], want.AsSpan(i * cStride, m * (int)w[i].Rows));
            var got = new float[w.Length * cStride];
            MatMul.MultiplyBatch(a, aStride, m, w, got, cStride);
            AssertSameBits(want, got, $"batch aStride={aStride} {where}");
            // A batch of the quantized ones only (the path that runs as one parallel call).
            var q = w.Where(v => DTypeInfo.IsBlockQuantized(v.DType)).ToArray();
            Array.Clear(got);
            MatMul.MultiplyBatch(a, aStride, m, q, got, cStride);
            AssertSameBits(want.AsSpan(0, q.Length * cStride).ToArray(), got.AsSpan(0, q.Length * cStride).ToArray(), $"quantized batch aStride={aStride} {where}");
        }
    }

    private static void AssertSameBits(float[] want, float[] got, string what)
    {
        for (int i = 0; i < want.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]), $"{what} [{i}]: {got[i]:R} vs {want[i]:R}");
    }

    [Fact]
    public void BadBatchOperandsAreErrorsThatNameTheTensor()
    {
        var data = new byte[DTypeInfo.RowBytes(DType.Q4_K, 8L * 256)];
        fixed (byte* p = data)
        {
            var w256 = new TensorView("blk.0.ffn_up.weight", DType.Q4_K, [8, 256], p, data.Length);
            var w512 = new TensorView("blk.0.ffn_down.weight", DType.Q4_K, [4, 512], p, data.Length);
            var a = new float[512];
            var c = new float[64];
            var e = Assert.Throws<ArgumentException>(() => MatMul.MultiplyBatch(a, 0, 1, [w256, w512], c, 8));
            Assert.Contains("blk.0.ffn_down.weight", e.Message);
            e = Assert.Throws<ArgumentException>(() => MatMul.MultiplyBatch(a, 0, 1, [w256, w256], c, 4));
            Assert.Contains("blk.0.ffn_up.weight", e.Message);
            e = Assert.Throws<ArgumentException>(() => MatMul.MultiplyBatch(a, 0, 1, [w256, w256], new float[12], 8));
            Assert.Contains("C has 12", e.Message);
            e = Assert.Throws<ArgumentException>(() => MatMul.MultiplyShared(a, 1, w256, new float[3], w256, new float[8]));
            Assert.Contains("blk.0.ffn_up.weight", e.Message);
        }
    }
}
