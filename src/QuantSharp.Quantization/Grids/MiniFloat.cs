// Small binary floating-point formats (FP8 E4M3/E5M2, FP4 E2M1): exact decoding and round-to-nearest-even encoding.
namespace QuantSharp.Quantization.Grids;

/// <summary>How a mini-float format uses its top exponent.</summary>
public enum MiniFloatSpecials
{
    /// <summary>IEEE-like: top exponent is ±infinity (mantissa 0) or NaN (E5M2).</summary>
    Ieee,
    /// <summary>OCP "fn" (finite, single NaN): top exponent holds normal numbers except mantissa all ones = NaN (E4M3).</summary>
    FiniteWithNaN,
    /// <summary>No special values at all: every code is a number (E2M1).</summary>
    None,
}

/// <summary>
/// A sign–exponent–mantissa format of at most 8 bits with subnormals, as the OCP 8-bit floating
/// point specification (v1.0) and the OCP Microscaling specification (v1.0) define them. Decoding is
/// exact. <see cref="Encode"/> rounds to nearest, ties to even mantissa, like IEEE conversion: a value
/// exactly between two neighbours takes the one whose code is even. Overflow saturates to ±max finite
/// when <c>saturate</c> (the default and what quantizers use); without it, E4M3 overflows to NaN,
/// E5M2 to ±infinity (values from max + half an ulp up, ties at that point rounding to even, so
/// E4M3's 464 stays 448 and E5M2's 61440 becomes infinity). Infinite inputs: E5M2 keeps ±infinity;
/// E4M3 gives ±448 when saturating, NaN otherwise; E2M1 saturates. NaN encodes to the sign with all
/// other bits set (E4M3 0x7F/0xFF, E5M2 0x7F/0xFF); E2M1 has no NaN and rejects it.
/// </summary>
public sealed class MiniFloat
{
    /// <summary>OCP FP8 E4M3 ("e4m3fn"): bias 7, no infinities, NaN S.1111.111, max 448, min subnormal 2^-9.</summary>
    public static MiniFloat E4M3 { get; } = new("fp8-e4m3", 4, 3, 7, MiniFloatSpecials.FiniteWithNaN);

    /// <summary>OCP FP8 E5M2: bias 15, IEEE infinities and NaNs, max 57344, min subnormal 2^-16.</summary>
    public static MiniFloat E5M2 { get; } = new("fp8-e5m2", 5, 2, 15, MiniFloatSpecials.Ieee);

    /// <summary>OCP FP4 E2M1: bias 1, no special values: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.</summary>
    public static MiniFloat E2M1 { get; } = new("fp4-e2m1", 2, 1, 1, MiniFloatSpecials.None);

    private readonly float[] _decoded;

    private MiniFloat(string name, int exponentBits, int mantissaBits, int bias, MiniFloatSpecials specials)
    {
        Name = name;
        ExponentBits = exponentBits;
        MantissaBits = mantissaBits;
        Bias = bias;
        Specials = specials;
        _decoded = new float[1 << Bits];
        for (int c = 0; c < _decoded.Length; c++) _decoded[c] = DecodeSlow((byte)c);
        MaxCode = specials switch
        {
            MiniFloatSpecials.Ieee => (byte)((((1 << exponentBits) - 2) << mantissaBits) | ((1 << mantissaBits) - 1)),
            MiniFloatSpecials.FiniteWithNaN => (byte)((((1 << exponentBits) - 1) << mantissaBits) | ((1 << mantissaBits) - 2)),
            _ => (byte)((1 << (exponentBits + mantissaBits)) - 1),
        };
        MaxFinite = _decoded[MaxCode];
    }

    /// <summary>Name, e.g. "fp8-e4m3".</summary>
    public string Name { get; }

    /// <summary>Exponent field width.</summary>
    public int ExponentBits { get; }

    /// <summary>Mantissa field width.</summary>
    public int MantissaBits { get; }

    /// <summary>Exponent bias.</summary>
    public int Bias { get; }

    /// <summary>Use of the top exponent.</summary>
    public MiniFloatSpecials Specials { get; }

    /// <summary>Total width: 1 + exponent + mantissa bits.</summary>
    public int Bits => 1 + ExponentBits + MantissaBits;

    /// <summary>Code of the largest finite positive value.</summary>
    public byte MaxCode { get; }

    /// <summary>Largest finite value.</summary>
    public float MaxFinite { get; }

    /// <summary>Smallest exponent of a normal number (also the exponent of the subnormals): 1 − bias.</summary>
    public int MinExponent => 1 - Bias;

    /// <summary>The value of <paramref name="code"/> (low <see cref="Bits"/> bits), exactly.</summary>
    public float Decode(byte code) => _decoded[code & ((1 << Bits) - 1)];

    private float DecodeSlow(byte code)
    {
        int mantissaMask = (1 << MantissaBits) - 1, topExponent = (1 << ExponentBits) - 1;
        bool negative = (code >> (Bits - 1) & 1) != 0;
        int exponent = (code >> MantissaBits) & topExponent, mantissa = code & mantissaMask;
        double magnitude;
        if (Specials == MiniFloatSpecials.Ieee && exponent == topExponent)
            magnitude = mantissa == 0 ? double.PositiveInfinity : double.NaN;
        else if (Specials == MiniFloatSpecials.FiniteWithNaN && exponent == topExponent && mantissa == mantissaMask)
            magnitude = double.NaN;
        else if (exponent == 0)
            magnitude = Math.ScaleB(mantissa, MinExponent - MantissaBits);
        else
            magnitude = Math.ScaleB((1 << MantissaBits) + mantissa, exponent - Bias - MantissaBits);
        return (float)(negative ? -magnitude : magnitude);
    }

    /// <summary>
    /// The code of the representable value nearest to <paramref name="value"/>, ties to even
    /// (see the type's remarks for overflow, infinities and NaN).
    /// </summary>
    public byte Encode(float value, bool saturate = true)
    {
        int signBit = BitConverter.SingleToInt32Bits(value) < 0 ? 1 << (Bits - 1) : 0;
        int topExponent = (1 << ExponentBits) - 1, mantissaMask = (1 << MantissaBits) - 1;
        byte nanCode = (byte)(signBit | ((1 << (Bits - 1)) - 1));
        if (float.IsNaN(value))
            return Specials == MiniFloatSpecials.None ? throw new ArgumentException($"{Name} has no NaN", nameof(value)) : nanCode;
        if (float.IsInfinity(value))
        {
            if (Specials == MiniFloatSpecials.Ieee) return (byte)(signBit | (topExponent << MantissaBits));
            if (saturate || Specials == MiniFloatSpecials.None) return (byte)(signBit | MaxCode);
            return nanCode;
        }
        double a = Math.Abs((double)value);
        if (a == 0) return (byte)signBit;
        // Round on the grid of a's binade (or the subnormal grid), exactly in double: a/ulp has at most
        // 24 significant bits, and halves are exact.
        int e = Math.Max(Math.ILogB(a), MinExponent);
        double steps = Math.Round(Math.ScaleB(a, MantissaBits - e), MidpointRounding.ToEven);
        if (steps == 1 << (MantissaBits + 1)) { steps = 1 << MantissaBits; e++; }
        int n = (int)steps;
        int exponentField, mantissa;
        if (n >= 1 << MantissaBits) { exponentField = e + Bias; mantissa = n - (1 << MantissaBits); }
        else { exponentField = 0; mantissa = n; }
        int code = exponentField > topExponent ? int.MaxValue : (exponentField << MantissaBits) | mantissa;
        if (code > MaxCode)
        {
            if (saturate || Specials == MiniFloatSpecials.None) return (byte)(signBit | MaxCode);
            return Specials == MiniFloatSpecials.Ieee ? (byte)(signBit | (topExponent << MantissaBits)) : nanCode;
        }
        return (byte)(signBit | code);
    }

    /// <summary>Round trip: the representable value nearest to <paramref name="value"/> (saturating).</summary>
    public float Round(float value) => Decode(Encode(value));

    /// <summary>
    /// Bound on |v − Round(v)| for finite |v| ≤ <see cref="MaxFinite"/>: half an ulp, i.e.
    /// max(|v|·2^−(m+1), 2^(emin − m − 1)) (relative in the normal range, absolute among subnormals).
    /// </summary>
    public double RoundingBound(double v) =>
        Math.Max(Math.Abs(v) * Math.ScaleB(1.0, -(MantissaBits + 1)), Math.ScaleB(1.0, MinExponent - MantissaBits - 1));

    /// <inheritdoc/>
    public override string ToString() => Name;
}
