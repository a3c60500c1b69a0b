// A GGUF metadata array: one element type, held as a typed .NET array so large vocabularies stay compact.
using System.Collections;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// A homogeneous GGUF array. <see cref="Items"/> is a typed array matching
/// <see cref="ElementType"/> (string[] for strings, float[] for Float32, GgufArray[] for nested
/// arrays, …). Equality is structural; floats compare by bit pattern so NaNs round-trip.
/// </summary>
public sealed class GgufArray : IEquatable<GgufArray>
{
    /// <summary>Wraps <paramref name="items"/>, whose element type must match <paramref name="elementType"/>.</summary>
    public GgufArray(GgufValueType elementType, Array items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var expected = GgufValueTypeInfo.ClrType(elementType);
        if (items.GetType().GetElementType() != expected || items.Rank != 1)
            throw new ArgumentException($"a GGUF {elementType} array must be held as {expected.Name}[], got {items.GetType().Name}", nameof(items));
        if (items is string?[] s && Array.IndexOf(s, null) >= 0) throw new ArgumentException("GGUF string arrays cannot hold null", nameof(items));
        if (items is GgufArray?[] a && Array.IndexOf(a, null) >= 0) throw new ArgumentException("GGUF nested arrays cannot hold null", nameof(items));
        ElementType = elementType;
        Items = items;
    }

    /// <summary>Type of every element.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The elements, as a typed array (see the class remarks).</summary>
    public Array Items { get; }

    /// <summary>Number of elements.</summary>
    public int Count => Items.Length;

    /// <summary>Creates an array from typed elements; <typeparamref name="T"/> picks the element type.</summary>
    public static GgufArray Of<T>(params T[] items)
    {
        var t = GgufValueTypeInfo.FromClrType(typeof(T))
            ?? throw new ArgumentException($"{typeof(T).Name} is not a GGUF value type");
        return new GgufArray(t, items);
    }

    /// <inheritdoc/>
    public bool Equals(GgufArray? other)
    {
        if (other is null || other.ElementType != ElementType || other.Count != Count) return false;
        return ElementType switch
        {
            GgufValueType.Float32 => ((float[])Items).AsSpan().SequenceEqual((float[])other.Items, BitEquality.Float),
            GgufValueType.Float64 => ((double[])Items).AsSpan().SequenceEqual((double[])other.Items, BitEquality.Double),
            _ => StructuralComparisons.StructuralEqualityComparer.Equals(Items, other.Items),
        };
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as GgufArray);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ElementType, Count);

    /// <inheritdoc/>
    public override string ToString() => $"{ElementType}[{Count}]";
}

/// <summary>Float comparers by bit pattern: what a byte-exact round trip means for NaN and -0.</summary>
internal static class BitEquality
{
    public static readonly IEqualityComparer<float> Float = EqualityComparer<float>.Create(
        (a, b) => BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b), a => BitConverter.SingleToInt32Bits(a));
    public static readonly IEqualityComparer<double> Double = EqualityComparer<double>.Create(
        (a, b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b), a => BitConverter.DoubleToInt64Bits(a).GetHashCode());
}
