// Small GGUF files shared by the GGUF tests: one of every metadata type plus a few tensors.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

internal static class GgufSamples
{
    /// <summary>Metadata holding every scalar type, every array element type and a nested array.</summary>
    public static GgufMetadata AllValueTypes()
    {
        var m = new GgufMetadata("sample");
        m.Set("t.u8", GgufValue.UInt8(250));
        m.Set("t.i8", GgufValue.Int8(-7));
        m.Set("t.u16", GgufValue.UInt16(65000));
        m.Set("t.i16", GgufValue.Int16(-30000));
        m.Set("t.u32", GgufValue.UInt32(4_000_000_000));
        m.Set("t.i32", GgufValue.Int32(-2_000_000_000));
        m.Set("t.f32", GgufValue.Float32(3.25f));
        m.Set("t.bool", GgufValue.Bool(true));
        m.Set("t.str", GgufValue.String("héllo ✓ 漢字"));
        m.Set("t.u64", GgufValue.UInt64(ulong.MaxValue));
        m.Set("t.i64", GgufValue.Int64(long.MinValue));
        m.Set("t.f64", GgufValue.Float64(-1e300));
        m.SetArray("a.u8", new byte[] { 1, 2, 255 });
        m.SetArray("a.i8", new sbyte[] { -1, 0, 1 });
        m.SetArray("a.u16", new ushort[] { 1, 65535 });
        m.SetArray("a.i16", new short[] { -2, 2 });
        m.SetArray("a.u32", new uint[] { 0, uint.MaxValue });
        m.SetArray("a.i32", new int[] { int.MinValue, 5 });
        m.SetArray("a.f32", new float[] { 0.5f, float.NaN, -0f });
        m.SetArray("a.bool", new bool[] { true, false, true });
        m.SetArray("a.str", new[] { "", "a", "ünï" });
        m.SetArray("a.u64", new ulong[] { 9, ulong.MaxValue });
        m.SetArray("a.i64", new long[] { -9, long.MaxValue });
        m.SetArray("a.f64", new double[] { Math.PI, double.NegativeInfinity });
        m.SetArray("a.empty", Array.Empty<int>());
        m.SetArray("a.nested", new[] { GgufArray.Of(1, 2, 3), GgufArray.Of<int>(), GgufArray.Of(7) });
        m.SetArray("a.nested2", new[] { GgufArray.Of(GgufArray.Of("x", "y")), GgufArray.Of(GgufArray.Of("z")) });
        return m;
    }

    /// <summary>
    /// A valid file with two small tensors whose data sizes are multiples of 32 bytes, so the file
    /// ends exactly where the last tensor does and every shorter prefix is invalid.
    /// </summary>
    public static void WriteSmall(string path)
    {
        var m = new GgufMetadata();
        m.SetString("general.architecture", "test");
        m.SetUInt32("test.n", 3);
        m.SetArray("test.words", new[] { "ab", "c" });
        var w = new GgufWriter(m);
        w.AddTensor("w", [2, 4], Enumerable.Range(0, 8).Select(i => (float)i).ToArray());
        w.AddTensor("h", GgmlType.F16, [16], new byte[32]);
        w.WriteFile(path);
    }
}
