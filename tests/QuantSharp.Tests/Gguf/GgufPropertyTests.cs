// Property test: any metadata the model can express survives a write and a read unchanged.
using CsCheck;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufPropertyTests
{
    // Valid UTF-16 only (no lone surrogates), since GGUF strings are UTF-8.
    private static readonly Gen<string> Text = Gen.Char["abcxyz ._-0189éü漢字✓\n"].Array[0, 12].Select(c => new string(c));

    private static Gen<GgufArray> ArrayOf(GgufValueType t, int depth) => t switch
    {
        GgufValueType.UInt8 => Gen.Byte.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Int8 => Gen.SByte.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.UInt16 => Gen.UShort.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Int16 => Gen.Short.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.UInt32 => Gen.UInt.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Int32 => Gen.Int.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Float32 => Gen.Float.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Bool => Gen.Bool.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.String => Text.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.UInt64 => Gen.ULong.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Int64 => Gen.Long.Array[0, 6].Select(a => new GgufArray(t, a)),
        GgufValueType.Float64 => Gen.Double.Array[0, 6].Select(a => new GgufArray(t, a)),
        _ => Gen.Int[0, depth > 1 ? 11 : 12].SelectMany(et => ArrayOf(ElementTypeFor(et), depth + 1)).Array[0, 3]
                .Select(a => new GgufArray(GgufValueType.Array, a)),
    };

    // Element types 0..12 where 9 (Array) is only reachable below the nesting limit of the generator.
    private static GgufValueType ElementTypeFor(int i) => (GgufValueType)i;

    private static Gen<GgufValue> Value => Gen.Int[0, 12].SelectMany(i => (GgufValueType)i switch
    {
        GgufValueType.UInt8 => Gen.Byte.Select(GgufValue.UInt8),
        GgufValueType.Int8 => Gen.SByte.Select(GgufValue.Int8),
        GgufValueType.UInt16 => Gen.UShort.Select(GgufValue.UInt16),
        GgufValueType.Int16 => Gen.Short.Select(GgufValue.Int16),
        GgufValueType.UInt32 => Gen.UInt.Select(GgufValue.UInt32),
        GgufValueType.Int32 => Gen.Int.Select(GgufValue.Int32),
        GgufValueType.Float32 => Gen.Float.Select(GgufValue.Float32),
        GgufValueType.Bool => Gen.Bool.Select(GgufValue.Bool),
        GgufValueType.String => Text.Select(GgufValue.String),
        GgufValueType.UInt64 => Gen.ULong.Select(GgufValue.UInt64),
        GgufValueType.Int64 => Gen.Long.Select(GgufValue.Int64),
        GgufValueType.Float64 => Gen.Double.Select(GgufValue.Float64),
        _ => Gen.Int[0, 12].SelectMany(et => ArrayOf((GgufValueType)et, 1)).Select(GgufValue.Array),
    });

    private static readonly Gen<(string Key, GgufValue Value)[]> Entries =
        Gen.Select(Text, Value).Array[0, 8];

    [Fact]
    public void Random_metadata_round_trips()
    {
        using var dir = new TempDirectory();
        int n = 0;
        Entries.Sample(entries =>
        {
            var m = new GgufMetadata();
            foreach (var (key, value) in entries) m.Set("k." + key, value);
            var path = dir.File($"p{n++}.gguf");
            new GgufWriter(m).WriteFile(path);
            using var f = new GgufFile(path);
            Assert.Equal(m.Keys, f.Metadata.Keys);
            foreach (var (key, value) in m.Entries)
                Assert.True(value.Equals(f.Metadata[key]), $"{key}: wrote {value}, read {f.Metadata[key]}");
        }, iter: 200);
    }
}
