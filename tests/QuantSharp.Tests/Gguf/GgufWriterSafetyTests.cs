// The writer never clobbers inputs and never leaves partial or temporary files behind.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufWriterSafetyTests
{
    private static bool HasTempFiles(TempDirectory dir) => Directory.GetFiles(dir.Path).Any(p => p.Contains(".tmp-"));

    [Fact]
    public void Refuses_to_overwrite_a_protected_input()
    {
        using var dir = new TempDirectory();
        var input = dir.File("in.gguf");
        File.WriteAllText(input, "precious");
        var w = new GgufWriter();
        var e = Assert.Throws<IOException>(() => w.WriteFile(Path.Combine(dir.Path, "sub", "..", "in.gguf"), [input]));
        Assert.Contains("input", e.Message);
        Assert.Equal("precious", File.ReadAllText(input));
        Assert.False(HasTempFiles(dir));
    }

    [Fact]
    public void Failing_callback_leaves_no_temp_and_keeps_the_old_output()
    {
        using var dir = new TempDirectory();
        var output = dir.File("out.gguf");
        File.WriteAllText(output, "old");
        var w = new GgufWriter();
        w.AddTensor("x", GgmlType.F32, [4], _ => throw new InvalidOperationException("boom"));
        Assert.Throws<InvalidOperationException>(() => w.WriteFile(output));
        Assert.Equal("old", File.ReadAllText(output));
        Assert.False(HasTempFiles(dir));
    }

    [Fact]
    public void Cancellation_deletes_the_temp_file()
    {
        using var dir = new TempDirectory();
        using var cts = new CancellationTokenSource();
        var w = new GgufWriter();
        w.AddTensor("a", GgmlType.F32, [4], s => { s.Write(new byte[16]); cts.Cancel(); });
        w.AddTensor("b", GgmlType.F32, [4], s => s.Write(new byte[16]));
        Assert.ThrowsAny<OperationCanceledException>(() => w.WriteFile(dir.File("c.gguf"), null, cts.Token));
        Assert.False(File.Exists(dir.File("c.gguf")));
        Assert.False(HasTempFiles(dir));
    }

    [Theory]
    [InlineData(15)]
    [InlineData(17)]
    public void Callback_writing_the_wrong_size_fails(int bytes)
    {
        using var dir = new TempDirectory();
        var w = new GgufWriter();
        w.AddTensor("x", GgmlType.F32, [4], s => s.Write(new byte[bytes]));
        var e = Assert.Throws<InvalidOperationException>(() => w.WriteFile(dir.File("w.gguf")));
        Assert.Contains("'x'", e.Message);
        Assert.False(File.Exists(dir.File("w.gguf")));
        Assert.False(HasTempFiles(dir));
    }

    [Fact]
    public void Rejects_bad_declarations()
    {
        var w = new GgufWriter();
        w.AddTensor("x", [1], new float[1]);
        Assert.Throws<ArgumentException>(() => w.AddTensor("x", [1], new float[1]));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('n', 64), [1], new float[1]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("five", [1, 1, 1, 1, 1], new float[1]));
        Assert.Throws<ArgumentException>(() => w.AddTensor("zero", [0], new float[0]));
        w.Metadata.SetUInt32("general.alignment", 48);
        Assert.Throws<InvalidOperationException>(() => w.WriteTo(Stream.Null));
    }
}
