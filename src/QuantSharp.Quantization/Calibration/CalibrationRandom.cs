// The project's own seeded PRNG (xoshiro256** seeded by SplitMix64), so calibration samples never depend on the runtime.
namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// A fully specified pseudo-random generator, so that the same seed selects the same calibration
/// segments on every machine and .NET version (System.Random's algorithm is not a contract).
/// <para>Algorithm: the 64-bit seed is expanded into four state words by SplitMix64
/// (z += 0x9E3779B97F4A7C15; z = (z ^ z≫30)·0xBF58476D1CE4E5B9; z = (z ^ z≫27)·0x94D049BB133111EB;
/// z ^ z≫31), then outputs come from xoshiro256** (Blackman and Vigna 2018: result = rotl(s1·5, 7)·9).
/// <see cref="NextBelow"/> draws a uniform integer in [0, n) by rejection: values at or above the
/// largest multiple of n below 2^64 are discarded, then the remainder modulo n is taken.</para>
/// </summary>
public sealed class CalibrationRandom
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator from <paramref name="seed"/>.</summary>
    public CalibrationRandom(ulong seed)
    {
        ulong z = seed;
        _s0 = SplitMix64(ref z);
        _s1 = SplitMix64(ref z);
        _s2 = SplitMix64(ref z);
        _s3 = SplitMix64(ref z);
    }

    private static ulong SplitMix64(ref ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        ulong r = z;
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL;
        return r ^ (r >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform integer in [0, <paramref name="n"/>), n ≥ 1 (rejection sampling, no modulo bias).</summary>
    public long NextBelow(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ulong un = (ulong)n;
        ulong limit = ulong.MaxValue - ulong.MaxValue % un; // values ≥ limit would bias the remainder
        ulong v;
        do v = NextUInt64(); while (v >= limit);
        return (long)(v % un);
    }
}
