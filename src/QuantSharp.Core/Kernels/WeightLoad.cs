// Loads of weight elements as fp32 vectors, converting F16/BF16 in registers (no staging buffer).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Core.Kernels;

/// <summary>
/// Per-dtype loads used by the GEMV kernels. Implemented by structs so the JIT specialises each
/// kernel per dtype and inlines the conversion. Each method reads elements
/// <c>[i, i + width)</c> of the row at <c>row</c>; callers guarantee the range is in bounds and
/// only call a width whose ISA is available.
/// </summary>
internal unsafe interface IWeightLoad
{
    static abstract Vector512<float> Load512(byte* row, nint i);
    static abstract Vector256<float> Load256(byte* row, nint i);
    static abstract Vector128<float> Load128(byte* row, nint i);
    static abstract float Load1(byte* row, nint i);
}

/// <summary>fp32 weights: plain loads.</summary>
internal readonly unsafe struct F32Load : IWeightLoad
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(byte* row, nint i) => Vector512.Load((float*)row + i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(byte* row, nint i) => Vector256.Load((float*)row + i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(byte* row, nint i) => Vector128.Load((float*)row + i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => ((float*)row)[i];
}

/// <summary>bf16 weights: zero-extend to 32 bits and shift into the upper half (exact).</summary>
internal readonly unsafe struct BF16Load : IWeightLoad
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(byte* row, nint i)
        => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + i)), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(byte* row, nint i)
        => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)row + i)), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(byte* row, nint i)
        => Vector128.ShiftLeft(Vector128.WidenLower(Load4(row, i)), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => BitConverter.Int32BitsToSingle(((ushort*)row)[i] << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<ushort> Load4(byte* row, nint i)
        => Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>((ushort*)row + i)).AsUInt16();
}

/// <summary>
/// fp16 weights. .NET 10 exposes no F16C/vcvtph2ps intrinsic, so the conversion is done with
/// integer ops: move exponent+mantissa to fp32 position and multiply by 2^112, which rebiases
/// normals and turns subnormals into the right normal value in one exact multiply; Inf/NaN get
/// their exponent forced to all ones; the sign is OR-ed back. Exact for every non-NaN input;
/// NaNs stay NaN with their payload, but a signalling NaN is not quietened as vcvtph2ps would.
/// </summary>
internal readonly unsafe struct F16Load : IWeightLoad
{
    /// <summary>2^112 = 2^(127 - 15): the difference of the fp32 and fp16 exponent biases.</summary>
    private const float Pow2To112 = 5.192296858534828e33f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(byte* row, nint i)
    {
        var h = Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + i));
        var em = h & Vector512.Create(0x7fffu);
        var f = (Avx512F.ShiftLeftLogical(em, 13).AsSingle() * Vector512.Create(Pow2To112)).AsUInt32();
        var special = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7c00u)) & Vector512.Create(0x7f800000u);
        var sign = Avx512F.ShiftLeftLogical(h, 16) & Vector512.Create(0x80000000u);
        return (f | special | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(byte* row, nint i)
    {
        var h = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)row + i)).AsUInt32();
        var em = h & Vector256.Create(0x7fffu);
        var f = (Vector256.ShiftLeft(em, 13).AsSingle() * Vector256.Create(Pow2To112)).AsUInt32();
        // Signed compare is fine: em < 2^15.
        var special = Vector256.GreaterThan(em.AsInt32(), Vector256.Create(0x7bff)).AsUInt32() & Vector256.Create(0x7f800000u);
        var sign = Vector256.ShiftLeft(h, 16) & Vector256.Create(0x80000000u);
        return (f | special | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(byte* row, nint i)
    {
        var h = Vector128.WidenLower(BF16Load.Load4(row, i));
        var em = h & Vector128.Create(0x7fffu);
        var f = (Vector128.ShiftLeft(em, 13).AsSingle() * Vector128.Create(Pow2To112)).AsUInt32();
        var special = Vector128.GreaterThan(em.AsInt32(), Vector128.Create(0x7bff)).AsUInt32() & Vector128.Create(0x7f800000u);
        var sign = Vector128.ShiftLeft(h, 16) & Vector128.Create(0x80000000u);
        return (f | special | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => (float)((Half*)row)[i];
}
