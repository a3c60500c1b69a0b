// Finds NaN/Inf in float tensors by their exponent bits, fast enough to run on every model load.
using System.Numerics;
using System.Runtime.InteropServices;
using QuantSharp.Core.Kernels;

namespace QuantSharp.Core.Tensors;

/// <summary>
/// Scans F32/F16/BF16 tensors for non-finite values (all exponent bits set). Models are checked
/// when loaded so that a broken file fails with a clear error instead of producing NaN logits, and
/// so that kernels may assume finite weights.
/// </summary>
public static class FiniteCheck
{
    /// <summary>Index of the first NaN/Inf element, or −1 when all are finite (other dtypes: −1).</summary>
    public static unsafe long FirstNonFinite(TensorView t)
    {
        return t.DType switch
        {
            DType.F32 => Scan<uint>(t, 0x7F800000u),
            DType.F16 => Scan<ushort>(t, (ushort)0x7C00),
            DType.BF16 => Scan<ushort>(t, (ushort)0x7F80),
            _ => -1,
        };
    }

    /// <summary>
    /// Index of the first NaN/Inf in <paramref name="values"/>, or −1 when all are finite: the
    /// exponent-bit test a vector at a time on the caller's thread (a tensor being exported or quantized).
    /// </summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        var bits = MemoryMarshal.Cast<float, uint>(values);
        const uint exponent = 0x7F800000u;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var mask = new Vector<uint>(exponent);
            for (; i <= bits.Length - Vector<uint>.Count; i += Vector<uint>.Count)
                if (Vector.EqualsAny(new Vector<uint>(bits.Slice(i)) & mask, mask)) break;
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & exponent) == exponent) return i;
        return -1;
    }

    private static unsafe long Scan<T>(TensorView t, T exponentMask) where T : unmanaged, IBinaryInteger<T>
    {
        long count = t.ElementCount;
        const int chunk = 1 << 20;
        long chunks = (count + chunk - 1) / chunk;
        long first = long.MaxValue;
        var mask = new Vector<T>(exponentMask);
        T* p = (T*)t.Pointer;
        ScopedParallel.For(0, checked((int)chunks), c =>
        {
            long start = (long)c * chunk, end = Math.Min(count, start + chunk);
            var span = new ReadOnlySpan<T>(p + start, (int)(end - start));
            int i = 0;
            for (; i <= span.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = new Vector<T>(span.Slice(i));
                if (Vector.EqualsAny(v & mask, mask)) break;
            }
            for (; i < span.Length; i++)
            {
                if ((span[i] & exponentMask) == exponentMask)
                {
                    long idx = start + i;
                    long seen;
                    while (idx < (seen = Interlocked.Read(ref first)) && Interlocked.CompareExchange(ref first, idx, seen) != seen) { }
                    return;
                }
            }
        });
        return first == long.MaxValue ? -1 : first;
    }
}
