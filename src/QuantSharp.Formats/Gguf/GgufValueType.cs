// The value type tags of GGUF metadata (gguf.h, enum gguf_type).
namespace QuantSharp.Formats.Gguf;

/// <summary>Type tag of a GGUF metadata value, as stored in the file (a uint32).</summary>
public enum GgufValueType : uint
{
    /// <summary>uint8.</summary>
    UInt8 = 0,
    /// <summary>int8.</summary>
    Int8 = 1,
    /// <summary>uint16.</summary>
    UInt16 = 2,
    /// <summary>int16.</summary>
    Int16 = 3,
    /// <summary>uint32.</summary>
    UInt32 = 4,
    /// <summary>int32.</summary>
    Int32 = 5,
    /// <summary>float32.</summary>
    Float32 = 6,
    /// <summary>bool, one byte that must be 0 or 1.</summary>
    Bool = 7,
    /// <summary>UTF-8 string: uint64 length then bytes, no terminator.</summary>
    String = 8,
    /// <summary>Array: element type tag, uint64 count, elements.</summary>
    Array = 9,
    /// <summary>uint64.</summary>
    UInt64 = 10,
    /// <summary>int64.</summary>
    Int64 = 11,
    /// <summary>float64.</summary>
    Float64 = 12,
}

/// <summary>Facts about <see cref="GgufValueType"/>.</summary>
public static class GgufValueTypeInfo
{
    /// <summary>Whether <paramref name="id"/> is a defined tag.</summary>
    public static bool IsKnown(uint id) => id <= (uint)GgufValueType.Float64;

    /// <summary>Size in bytes of a fixed-size value; 0 for strings and arrays.</summary>
    public static int FixedSize(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The .NET type a scalar of this tag is held as (arrays hold <see cref="GgufArray"/>).</summary>
    public static Type ClrType(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.Array => typeof(GgufArray),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown GGUF value type"),
    };

    /// <summary>The tag whose values are held as <paramref name="clr"/>, or null.</summary>
    public static GgufValueType? FromClrType(Type clr)
    {
        for (uint i = 0; i <= (uint)GgufValueType.Float64; i++)
            if (ClrType((GgufValueType)i) == clr) return (GgufValueType)i;
        return null;
    }
}
