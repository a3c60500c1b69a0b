// OCP E8M0: the 8-bit power-of-two scale of the microscaling formats (2^(e − 127), 0xFF = NaN).
namespace QuantSharp.Quantization.Grids;

/// <summary>
/// E8M0 scale codec (OCP Microscaling Formats v1.0, §5.4): an unsigned biased exponent, value
/// 2^(e − 127) for e = 0 … 254 (2^−127 … 2^127), NaN for 0xFF; no zero, no sign.
/// </summary>
public static class E8M0
{
    /// <summary>The NaN code.</summary>
    public const byte NaN = 0xFF;

    /// <summary>2^(e − 127), or NaN for 0xFF. Exact (2^−127 is an fp32 subnormal).</summary>
    public static float Decode(byte e) => e == NaN ? float.NaN : (float)Math.ScaleB(1.0, e - 127);

    /// <summary>
    /// The code of 2^<paramref name="exponent"/>, clamped to the representable −127 … 127.
    /// </summary>
    public static byte FromExponent(int exponent) => (byte)(Math.Clamp(exponent, -127, 127) + 127);

    /// <summary>The exponent of a power-of-two scale produced by <see cref="Decode"/>.</summary>
    public static byte Encode(float powerOfTwo)
    {
        if (!(powerOfTwo > 0) || float.IsInfinity(powerOfTwo) || Math.ScaleB(1.0, Math.ILogB((double)powerOfTwo)) != powerOfTwo)
            throw new ArgumentException($"E8M0 stores powers of two, not {powerOfTwo}", nameof(powerOfTwo));
        int e = Math.ILogB((double)powerOfTwo);
        if (e is < -127 or > 127) throw new ArgumentOutOfRangeException(nameof(powerOfTwo), powerOfTwo, "E8M0 spans 2^-127 … 2^127");
        return (byte)(e + 127);
    }
}
