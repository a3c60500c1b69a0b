// Conversions between fp32 and the 16-bit float types, vectorized where the hardware allows.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QuantSharp.Core.Tensors;

/// <summary>fp16/bf16 ⇄ fp32 conversions. bf16 rounding is round-to-nearest-even, as PyTorch does.</summary>
public static class FloatConversion
{
    /// <summary>bf16 bits to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>fp32 to bf16 bits, round-to-nearest-even; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToBF16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40);
        u += 0x7fff + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    /// <summary>Converts a buffer of <paramref name="type"/> elements to fp32.</summary>
    public static void ToFloat32(DType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (type)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.BF16:
                BF16ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            default:
                if (!DTypeInfo.IsBlockQuantized(type)) throw new NotSupportedException($"conversion from {type} to fp32 is not supported");
                Kernels.BlockDequantizer.DequantizeRow(type, source, destination);
                break;
        }
    }

    /// <summary>bf16 to fp32 for a whole span: a 16-bit left shift per element.</summary>
    public static void BF16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short");
        int i = 0;
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - 16; i += 16)
            {
                var v = Vector256.LoadUnsafe(ref s, (nuint)i);
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ShiftLeft(lo, 16).AsSingle().StoreUnsafe(ref d, (nuint)i);
                Vector256.ShiftLeft(hi, 16).AsSingle().StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }
        for (; i < source.Length; i++) Unsafe.Add(ref d, i) = BF16ToFloat(Unsafe.Add(ref s, i));
    }

    /// <summary>fp32 to bf16 (round-to-nearest-even).</summary>
    public static void Float32ToBF16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        for (int i = 0; i < source.Length; i++) destination[i] = FloatToBF16(source[i]);
    }

    /// <summary>fp32 to fp16 (IEEE round-to-nearest-even).</summary>
    public static void Float32ToF16(ReadOnlySpan<float> source, Span<Half> destination)
        => TensorPrimitives.ConvertToHalf(source, destination);
}
