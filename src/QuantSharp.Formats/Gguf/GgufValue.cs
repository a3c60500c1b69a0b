// One typed GGUF metadata value (a scalar, a string or an array).
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// A GGUF metadata value with its exact type tag, so that a file read and written again keeps
/// every key's type (llama.cpp is strict about e.g. uint32 vs int32 for some keys).
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    private GgufValue(GgufValueType type, object value) { Type = type; Value = value; }

    /// <summary>The type tag.</summary>
    public GgufValueType Type { get; }

    /// <summary>The value: a boxed scalar of the tag's .NET type, a string or a <see cref="GgufArray"/>.</summary>
    public object Value { get; }

    /// <summary>A uint8 value.</summary>
    public static GgufValue UInt8(byte v) => new(GgufValueType.UInt8, v);
    /// <summary>An int8 value.</summary>
    public static GgufValue Int8(sbyte v) => new(GgufValueType.Int8, v);
    /// <summary>A uint16 value.</summary>
    public static GgufValue UInt16(ushort v) => new(GgufValueType.UInt16, v);
    /// <summary>An int16 value.</summary>
    public static GgufValue Int16(short v) => new(GgufValueType.Int16, v);
    /// <summary>A uint32 value.</summary>
    public static GgufValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    /// <summary>An int32 value.</summary>
    public static GgufValue Int32(int v) => new(GgufValueType.Int32, v);
    /// <summary>A float32 value.</summary>
    public static GgufValue Float32(float v) => new(GgufValueType.Float32, v);
    /// <summary>A bool value.</summary>
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v);
    /// <summary>A string value.</summary>
    public static GgufValue String(string v) => new(GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));
    /// <summary>A uint64 value.</summary>
    public static GgufValue UInt64(ulong v) => new(GgufValueType.UInt64, v);
    /// <summary>An int64 value.</summary>
    public static GgufValue Int64(long v) => new(GgufValueType.Int64, v);
    /// <summary>A float64 value.</summary>
    public static GgufValue Float64(double v) => new(GgufValueType.Float64, v);
    /// <summary>An array value.</summary>
    public static GgufValue Array(GgufArray v) => new(GgufValueType.Array, v ?? throw new ArgumentNullException(nameof(v)));

    /// <summary>
    /// A value of the tag whose .NET type is <typeparamref name="T"/> (byte→UInt8, uint→UInt32,
    /// string→String, GgufArray→Array, …).
    /// </summary>
    public static GgufValue From<T>(T value) where T : notnull
    {
        var t = GgufValueTypeInfo.FromClrType(typeof(T))
            ?? throw new ArgumentException($"{typeof(T).Name} is not a GGUF value type");
        return new GgufValue(t, value);
    }

    /// <summary>The value as an integer, whatever integer tag it has; null for non-integers or out-of-range uint64.</summary>
    public long? AsInteger() => Value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => null,
    };

    /// <inheritdoc/>
    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type) return false;
        return Value switch
        {
            float f => BitEquality.Float.Equals(f, (float)other.Value),
            double d => BitEquality.Double.Equals(d, (double)other.Value),
            _ => Value.Equals(other.Value),
        };
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Type, Value is float or double ? 0 : Value.GetHashCode());

    /// <inheritdoc/>
    public override string ToString() => $"{Type}: {Value}";
}
