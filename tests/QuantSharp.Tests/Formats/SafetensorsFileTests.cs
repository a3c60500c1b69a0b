// Safetensors reader: valid files read back exactly; malformed headers fail with a message naming the file and tensor.
using System.Text;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;

namespace QuantSharp.Tests.Formats;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string header, byte[] data, string name = "m.safetensors")
    {
        var h = Encoding.UTF8.GetBytes(header);
        var path = Path.Combine(_dir, name);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)h.Length));
        f.Write(h);
        f.Write(data);
        return path;
    }

    [Fact]
    public void ReadsF32Bf16AndF16TensorsExactly()
    {
        var data = new List<byte>();
        float[] f32 = [1.5f, -2.25f, 3e-5f, 1e10f];
        foreach (var v in f32) data.AddRange(BitConverter.GetBytes(v));
        ushort[] bf = [FloatConversion.FloatToBF16(0.5f), FloatConversion.FloatToBF16(-7f)];
        foreach (var v in bf) data.AddRange(BitConverter.GetBytes(v));
        Half[] f16 = [(Half)0.25f, (Half)(-3f)];
        foreach (var v in f16) data.AddRange(BitConverter.GetBytes(v));
        string header = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},"c":{"dtype":"F16","shape":[1,2],"data_offsets":[20,24]}}""";
        using var st = new SafetensorsFile(Write(header, data.ToArray()));
        Assert.Equal(["a", "b", "c"], st.TensorNames);
        Assert.Equal("pt", st.Metadata["format"]);
        Assert.Equal(f32, st.Get("a").ToFloat32());
        Assert.Equal([0.5f, -7f], st.Get("b").ToFloat32());
        Assert.Equal([0.25f, -3f], st.Get("c").ToFloat32());
        Assert.Equal([2L, 2L], st.Get("a").Shape);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}}""", "beyond the data section")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", "needs 12 bytes")]
    [InlineData("""{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}}""", "unsupported dtype")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}""", "not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}}""", "begin ≤ end")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,16]}}""", "overflows")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", "overlap")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"a": """, "not valid JSON")]
    public void MalformedHeadersAreRejectedWithTheTensorNamed(string header, string expected)
    {
        var path = Write(header, new byte[16]);
        var ex = Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
        Assert.Contains(expected, ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(ulong.MaxValue - 3), .. "{}"u8.ToArray()]);
        var ex = Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
        Assert.Contains("exceeds the file", ex.Message);
    }

    [Fact]
    public void EveryTruncationOfAValidFileFailsCleanly()
    {
        string header = """{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}""";
        var full = File.ReadAllBytes(Write(header, new byte[16], "full.safetensors"));
        for (int len = 0; len < full.Length; len++)
        {
            var p = Path.Combine(_dir, "t.safetensors");
            File.WriteAllBytes(p, full[..len]);
            Assert.Throws<InvalidDataException>(() => new SafetensorsFile(p));
        }
    }

    [Fact]
    public void ShardedIndexMustMatchTheShards()
    {
        Write("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4], "s1.safetensors");
        Write("""{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4], "s2.safetensors");
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""");
        using (var m = SafetensorsModel.Open(_dir))
        {
            Assert.True(m.Contains("a") && m.Contains("b"));
            Assert.Equal(2, m.TensorNames.Count);
        }
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map":{"a":"s2.safetensors","b":"s2.safetensors"}}""");
        var ex = Assert.Throws<InvalidDataException>(() => SafetensorsModel.Open(_dir));
        Assert.Contains("'a'", ex.Message);
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map":{"a":"../etc/passwd"}}""");
        Assert.Throws<InvalidDataException>(() => SafetensorsModel.Open(_dir));
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map":{"a":"missing.safetensors"}}""");
        Assert.Throws<FileNotFoundException>(() => SafetensorsModel.Open(_dir));
    }
}
