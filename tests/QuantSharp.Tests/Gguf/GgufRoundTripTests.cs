// Writer → reader round trips: every metadata type, dense and block tensors, alignment, determinism.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufRoundTripTests
{
    [Fact]
    public void Every_metadata_value_type_round_trips_in_order()
    {
        using var dir = new TempDirectory();
        var original = GgufSamples.AllValueTypes();
        new GgufWriter(original).WriteFile(dir.File("m.gguf"));

        using var f = new GgufFile(dir.File("m.gguf"));
        Assert.Equal(3, f.Version);
        Assert.Equal(original.Keys, f.Metadata.Keys);
        foreach (var (key, value) in original.Entries)
            Assert.True(value.Equals(f.Metadata[key]), $"{key}: wrote {value}, read {f.Metadata[key]}");
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void Typed_getters_return_values_and_name_the_key_on_type_mismatch()
    {
        using var dir = new TempDirectory();
        new GgufWriter(GgufSamples.AllValueTypes()).WriteFile(dir.File("m.gguf"));
        using var f = new GgufFile(dir.File("m.gguf"));
        var m = f.Metadata;

        Assert.Equal("héllo ✓ 漢字", m.GetString("t.str"));
        Assert.Equal(4_000_000_000u, m.GetUInt32("t.u32"));
        Assert.Equal(-2_000_000_000, m.GetInt32("t.i32"));
        Assert.Equal(4_000_000_000L, m.GetInteger("t.u32"));
        Assert.Equal(new[] { "", "a", "ünï" }, m.GetArray<string>("a.str"));
        Assert.Equal(new[] { 1, 2, 3 }, m.GetArray<GgufArray>("a.nested")[0].Items as int[]);
        Assert.True(m.TryGet<bool>("t.bool", out var b) && b);
        Assert.False(m.TryGet<uint>("absent", out _));

        var wrong = Assert.Throws<InvalidDataException>(() => m.GetUInt32("t.i32"));
        Assert.Contains("t.i32", wrong.Message);
        Assert.Contains("UInt32", wrong.Message);
        Assert.Contains(f.Origin, wrong.Message);
        var wrongArray = Assert.Throws<InvalidDataException>(() => m.GetArray<float>("a.str"));
        Assert.Contains("a.str", wrongArray.Message);
        var missing = Assert.Throws<KeyNotFoundException>(() => m.GetString("nope"));
        Assert.Contains("nope", missing.Message);
    }

    [Fact]
    public void Tensors_come_back_as_views_in_pytorch_order_including_block_types()
    {
        using var dir = new TempDirectory();
        var f32 = Enumerable.Range(0, 3 * 5).Select(i => i * 0.5f - 2).ToArray();
        var f16 = Enumerable.Range(0, 4 * 2).Select(i => (Half)(i - 3)).ToArray();
        var bf16 = Enumerable.Range(0, 6).Select(i => FloatConversion.FloatToBF16(i * 1.5f)).ToArray();
        var q8 = Enumerable.Range(0, 2 * 34).Select(i => (byte)i).ToArray(); // two Q8_0 rows of 32

        var w = new GgufWriter();
        w.Metadata.SetString("general.architecture", "test");
        w.AddTensor("a", [3, 5], f32);
        w.AddTensor("b", GgmlType.F16, [4, 2], MemoryMarshal.AsBytes(f16.AsSpan()).ToArray());
        w.AddTensor("c", GgmlType.BF16, [1, 2, 3], MemoryMarshal.AsBytes(bf16.AsSpan()).ToArray());
        w.AddTensor("q", GgmlType.Q8_0, [2, 32], q8);
        w.WriteFile(dir.File("t.gguf"));

        using var f = new GgufFile(dir.File("t.gguf"));
        Assert.Equal(new[] { "a", "b", "c", "q" }, f.TensorNames);
        var a = f.Get("a");
        Assert.Equal(new long[] { 3, 5 }, a.Shape);
        Assert.Equal(new long[] { 5, 3 }, f.GetInfo("a").Dimensions);
        Assert.Equal(f32, a.ToFloat32());
        Assert.Equal(f16.Select(h => (float)h), f.Get("b").ToFloat32());
        Assert.Equal(new long[] { 1, 2, 3 }, f.Get("c").Shape);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => i * 1.5f), f.Get("c").ToFloat32());
        Assert.Equal(q8, f.GetRawBytes("q").ToArray());
        Assert.Equal(GgmlType.Q8_0, f.GetInfo("q").Type);
        var qv = f.Get("q"); // block types now come back as views too
        Assert.Equal(QuantSharp.Core.Tensors.DType.Q8_0, qv.DType);
        Assert.Equal(68, qv.ByteLength);
        Assert.Equal(34, qv.RowByteLength);
        Assert.All(f.Tensors, t => Assert.Equal(0, (t.FileOffset - f.DataOffset) % 32));
        Assert.Equal(0, f.DataOffset % 32);
        var missing = Assert.Throws<KeyNotFoundException>(() => f.Get("zz"));
        Assert.Contains("zz", missing.Message);
    }

    [Fact]
    public void Custom_alignment_is_honoured()
    {
        using var dir = new TempDirectory();
        var w = new GgufWriter();
        w.Metadata.SetUInt32("general.alignment", 256);
        w.AddTensor("x", [3], new float[] { 1, 2, 3 });
        w.AddTensor("y", [1], new float[] { 4 });
        w.WriteFile(dir.File("a.gguf"));
        using var f = new GgufFile(dir.File("a.gguf"));
        Assert.Equal(256, f.Alignment);
        Assert.All(f.Tensors, t => Assert.Equal(0, t.FileOffset % 256));
        Assert.Equal(new float[] { 4 }, f.Get("y").ToFloat32());
    }

    [Fact]
    public void Output_is_deterministic()
    {
        using var dir = new TempDirectory();
        void Write(string path)
        {
            var w = new GgufWriter(GgufSamples.AllValueTypes());
            w.AddTensor("x", [2, 2], new float[] { 1, 2, 3, 4 });
            w.WriteFile(path);
        }
        Write(dir.File("1.gguf"));
        Write(dir.File("2.gguf"));
        Assert.Equal(File.ReadAllBytes(dir.File("1.gguf")), File.ReadAllBytes(dir.File("2.gguf")));
    }

    [Fact]
    public void Streaming_callbacks_are_called_in_declared_order()
    {
        using var dir = new TempDirectory();
        var calls = new List<string>();
        var w = new GgufWriter();
        foreach (var name in new[] { "z", "a", "m" })
            w.AddTensor(name, GgmlType.F32, [4], s => { calls.Add(name); s.Write(new byte[16]); });
        w.WriteFile(dir.File("s.gguf"));
        Assert.Equal(new[] { "z", "a", "m" }, calls);
    }

    [Fact]
    public void Row_sizes_follow_block_geometry()
    {
        Assert.Equal(144, GgmlTypeInfo.Of(GgmlType.Q4_K).RowByteSize(256));
        Assert.Equal(34 * 4, GgmlTypeInfo.Of(GgmlType.Q8_0).RowByteSize(128));
        Assert.Equal(210, GgmlTypeInfo.Of(GgmlType.Q6_K).RowByteSize(256));
        Assert.Equal(18, GgmlTypeInfo.Of(GgmlType.Q4_0).RowByteSize(32));
        Assert.Equal(10, GgmlTypeInfo.Of(GgmlType.BF16).RowByteSize(5));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.Of(GgmlType.Q4_0).RowByteSize(33));
        Assert.Throws<ArgumentException>(() => new GgufWriter().AddTensor("bad", GgmlType.Q4_K, [2, 100], new byte[1]));
        Assert.Equal(30, (int)GgmlType.BF16);
        Assert.Equal(23, (int)GgmlType.IQ4_XS);
        Assert.All(GgmlTypeInfo.All, i => Assert.True(i.BytesPerBlock > 0 && i.BlockSize > 0));
    }
}
