// Range checks of decoder hyper-parameters shared by config.json and GGUF metadata readers, so both refuse the same values with the same words.
namespace QuantSharp.Formats;

/// <summary>
/// Validates hyper-parameters read from a model file. Each method returns the value when it is usable
/// and otherwise throws <see cref="InvalidDataException"/> naming <c>origin</c> (the file) and
/// <c>field</c> (the key) and saying what was expected. HfConfig uses them for config.json; the GGUF
/// loader uses them for the llama.* keys.
/// </summary>
public static class HyperParameterChecks
{
    /// <summary>RMSNorm epsilon: a finite number in (0, 1]. 0 or less gives division by zero or NaN for a zero row.</summary>
    public static double RmsEpsilon(string origin, string field, double eps)
        => double.IsFinite(eps) && eps > 0 && eps <= 1 ? eps
            : throw new InvalidDataException($"{origin}: '{field}' is {eps}; expected a number in (0, 1] (1e-5 and 1e-6 are usual)");

    /// <summary>
    /// RoPE base θ: positive and finite, and such that every frequency θ^(-2i/headDim) is a normal fp32
    /// number (the engine keeps them in fp32): a θ so large or small that the last one underflows to 0
    /// or overflows to ∞ is refused.
    /// </summary>
    public static double RopeTheta(string origin, string field, double theta, int headDim)
    {
        float last = headDim > 2 ? (float)Math.Pow(theta, -(headDim - 2.0) / headDim) : 1f;
        return double.IsFinite(theta) && theta > 0 && float.IsNormal(last) ? theta
            : throw new InvalidDataException($"{origin}: '{field}' is {theta}; expected a positive number whose frequencies θ^(-2i/head_dim) neither underflow nor overflow (10000 and 500000 are usual)");
    }

    /// <summary>A RoPE scaling factor (factor, low/high_freq_factor): positive and finite.</summary>
    public static double ScalingFactor(string origin, string field, double factor)
        => double.IsFinite(factor) && factor > 0 ? factor
            : throw new InvalidDataException($"{origin}: rope scaling '{field}' is {factor}; expected a positive number");

    /// <summary>A count (layers, heads, dimensions, vocabulary, context): 1 to <see cref="int.MaxValue"/>.</summary>
    public static int PositiveCount(string origin, string field, long count)
        => count is > 0 and <= int.MaxValue ? (int)count
            : throw new InvalidDataException($"{origin}: '{field}' is {count}; expected a positive count");
}
