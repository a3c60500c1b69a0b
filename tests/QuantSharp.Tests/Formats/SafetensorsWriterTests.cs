// The safetensors writer: what it writes reads back through the validating reader; bad declarations and callbacks fail cleanly.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Formats;

public sealed class SafetensorsWriterTests
{
    [Fact]
    public void WrittenFileReadsBackWithEveryDtypeShapeAndValue()
    {
        using var dir = new TempDirectory();
        var f32 = new float[] { 1.5f, -2f, 3.25f, 0f, 5f, 6f };
        var i32 = new int[] { -1, 2, int.MaxValue, int.MinValue };
        var f16 = new Half[] { (Half)0.5f, (Half)(-3f) };
        var w = new SafetensorsWriter();
        w.Metadata["format"] = "pt";
        w.AddTensor("a.weight", DType.F32, [2, 3], MemoryMarshal.AsBytes(f32.AsSpan()).ToArray());
        w.AddTensor("b.qweight", DType.I32, [4], MemoryMarshal.AsBytes(i32.AsSpan()).ToArray());
        w.AddTensor("c.scales", DType.F16, [1, 2], MemoryMarshal.AsBytes(f16.AsSpan()).ToArray());
        w.AddTensor("empty", DType.F32, [0, 4], Array.Empty<byte>());
        string path = dir.File("m.safetensors");
        w.WriteFile(path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0, (8 + (long)BitConverter.ToUInt64(bytes, 0)) % 8); // header padded to 8
        using var r = new SafetensorsFile(path);
        Assert.Equal("pt", r.Metadata["format"]);
        Assert.Equal(["a.weight", "b.qweight", "c.scales", "empty"], r.TensorNames);
        Assert.Equal(f32, r.Get("a.weight").ToFloat32());
        Assert.Equal(new long[] { 2, 3 }, r.Get("a.weight").Shape);
        Assert.Equal(i32, MemoryMarshal.Cast<byte, int>(r.Get("b.qweight").Bytes).ToArray());
        Assert.Equal([0.5f, -3f], r.Get("c.scales").ToFloat32());
        Assert.Equal(0, r.Get("empty").ElementCount);
    }

    [Fact]
    public void BadDeclarationsAreRejectedByName()
    {
        var w = new SafetensorsWriter();
        w.AddTensor("x", DType.F32, [1], new byte[4]);
        Assert.Contains("'x'", Assert.Throws<ArgumentException>(() => w.AddTensor("x", DType.F32, [1], new byte[4])).Message);
        Assert.Throws<ArgumentException>(() => w.AddTensor("__metadata__", DType.F32, [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("", DType.F32, [1], new byte[4]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("neg", DType.F32, [-1], new byte[4]));
        Assert.Throws<NotSupportedException>(() => w.AddTensor("q", DType.Q4_0, [32], new byte[18]));
    }

    [Fact]
    public void ShortOrLongDataAndCancellationLeaveNoFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("m.safetensors");
        var shortData = new SafetensorsWriter().AddTensor("x", DType.F32, [2], new byte[4]);
        Assert.Contains("expected 8", Assert.Throws<InvalidOperationException>(() => shortData.WriteFile(path)).Message);
        var longData = new SafetensorsWriter().AddTensor("x", DType.F32, [1], new byte[8]);
        Assert.ThrowsAny<Exception>(() => longData.WriteFile(path));
        using var cts = new CancellationTokenSource();
        var cancelled = new SafetensorsWriter().AddTensor("x", DType.F32, [1], s => { s.Write(new byte[4]); cts.Cancel(); }).AddTensor("y", DType.F32, [1], new byte[4]);
        Assert.ThrowsAny<OperationCanceledException>(() => cancelled.WriteFile(path, cancellationToken: cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        var protect = new SafetensorsWriter().AddTensor("x", DType.F32, [1], new byte[4]);
        Assert.Throws<IOException>(() => protect.WriteFile(path, [path]));
    }
}
