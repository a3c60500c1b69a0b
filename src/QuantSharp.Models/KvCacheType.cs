// The element type of an inference session's key/value cache.
namespace QuantSharp.Models;

/// <summary>
/// How an <see cref="InferenceSession"/> stores cached keys and values. <see cref="F32"/> keeps the exact values
/// (the default, which the oracle and determinism tests compare); <see cref="F16"/> is llama.cpp's default
/// (<c>--cache-type-k/v f16</c>): half the memory and half the bytes attention streams per token, each value
/// rounded to the nearest fp16 when it is stored (attention arithmetic stays fp32).
/// </summary>
public enum KvCacheType
{
    /// <summary>fp32 keys and values.</summary>
    F32,

    /// <summary>fp16 keys and values, rounded to nearest-even on store.</summary>
    F16,
}
