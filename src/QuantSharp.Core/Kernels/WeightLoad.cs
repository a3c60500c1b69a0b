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
/// integer ops: sign-extend to 32 bits and shift left by 13, which puts the sign in bit 31 and
/// exponent+mantissa in fp32 position (a mask clears the sign copies in between); one exact
/// multiply by 2^112 then rebiases normals and turns subnormals into the right normal value, sign
/// included. Inf/NaN are the only inputs that land at or above 2^16 and get their exponent forced
/// to all ones. Exact for every non-NaN input; NaNs stay NaN with their payload, but a signalling
/// NaN is not quietened as vcvtph2ps would.
/// </summary>
internal readonly unsafe struct F16Load : IWeightLoad
{
    /// <summary>2^112 = 2^(127 - 15): the difference of the fp32 and fp16 exponent biases.</summary>
    private const float Pow2To112 = 5.192296858534828e33f;

    /// <summary>Keeps bit 31 (sign) and bits 27..13 (exponent and mantissa) after the shift.</summary>
    private const int SignExpMantissa = unchecked((int)0x8FFFE000);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(byte* row, nint i)
    {
        var sx = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)row + i));
        var f = (Avx512F.ShiftLeftLogical(sx, 13) & Vector512.Create(SignExpMantissa)).AsSingle() * Vector512.Create(Pow2To112);
        var special = Vector512.GreaterThanOrEqual(Vector512.Abs(f), Vector512.Create(65536f));
        return Vector512.ConditionalSelect(special, f | Vector512.Create(float.PositiveInfinity), f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(byte* row, nint i)
    {
        var sx = Avx2.ConvertToVector256Int32(Vector128.Load((short*)row + i));
        var f = (Avx2.ShiftLeftLogical(sx, 13) & Vector256.Create(SignExpMantissa)).AsSingle() * Vector256.Create(Pow2To112);
        var special = Vector256.GreaterThanOrEqual(Vector256.Abs(f), Vector256.Create(65536f));
        return f | (special & Vector256.Create(float.PositiveInfinity));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(byte* row, nint i)
    {
        var sx = Vector128.WidenLower(BF16Load.Load4(row, i).AsInt16());
        var f = (Vector128.ShiftLeft(sx, 13) & Vector128.Create(SignExpMantissa)).AsSingle() * Vector128.Create(Pow2To112);
        var special = Vector128.GreaterThanOrEqual(Vector128.Abs(f), Vector128.Create(65536f));
        return f | (special & Vector128.Create(float.PositiveInfinity));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => (float)((Half*)row)[i];
}

/// <summary>
/// fp16 weights for GEMV with a pre-scaled activation vector: returns w·2^−112 (the shifted bit
/// pattern without F16Load's rebiasing multiply and Inf/NaN fix-up), to be multiplied by x·2^112.
/// Both scalings are exact powers of two, so every product — and hence the result — is
/// bit-identical to F16Load's, at three integer ops per 16 weights instead of seven. Callers use it
/// only when |x| &lt; 2^16 (so x·2^112 stays finite) and the weights hold no Inf/NaN (models are
/// checked when loaded).
/// </summary>
internal readonly unsafe struct F16ScaledLoad : IWeightLoad
{
    /// <summary>What the activations are multiplied by: 2^112.</summary>
    public const float ActivationScale = 5.192296858534828e33f;

    /// <summary>Largest |x| for which x·2^112 is finite.</summary>
    public const float MaxActivation = 65536f;

    private const int SignExpMantissa = unchecked((int)0x8FFFE000);
    private const float InversePow2To112 = 1.925929944387236e-34f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(byte* row, nint i)
        => (Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)row + i)), 13) & Vector512.Create(SignExpMantissa)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(byte* row, nint i)
        => (Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.Load((short*)row + i)), 13) & Vector256.Create(SignExpMantissa)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(byte* row, nint i)
        => (Vector128.ShiftLeft(Vector128.WidenLower(BF16Load.Load4(row, i).AsInt16()), 13) & Vector128.Create(SignExpMantissa)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => (float)((Half*)row)[i] * InversePow2To112;
}
