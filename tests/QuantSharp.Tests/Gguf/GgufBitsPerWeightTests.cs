// Bits per weight of a GGUF file: 2-D matrices only, all tensors, whole file, on files written by our writer.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufBitsPerWeightTests
{
    [Fact]
    public void Matrices_tensors_and_file_are_counted_separately()
    {
        using var dir = new TempDirectory();
        string path = dir.File("mixed.gguf");
        var meta = new GgufMetadata();
        meta.SetString("general.architecture", "test");
        meta.SetArray("test.vocab", Enumerable.Range(0, 100).Select(i => $"token{i}").ToArray());
        new GgufWriter(meta)
            // 4 rows × 64 columns of Q4_0: 2 blocks of 18 bytes per row = 144 bytes, 4.5 bits per weight.
            .AddTensor("blk.0.w", GgmlType.Q4_0, [4, 64], new byte[144])
            // 8 × 32 of Q8_0: one 34-byte block per row = 272 bytes, 8.5 bits per weight.
            .AddTensor("blk.0.v", GgmlType.Q8_0, [8, 32], new byte[272])
            // A 1-D norm in F32: counts for the tensors and the file, not for the matrices.
            .AddTensor("blk.0.norm", [64], new float[64])
            .WriteFile(path);

        var bpw = GgufBitsPerWeight.Of(path);

        Assert.Equal(new FileInfo(path).Length, bpw.FileBytes);
        Assert.Equal(144 + 272 + 256, bpw.TensorBytes);
        Assert.Equal(256 + 256 + 64, bpw.Parameters);
        Assert.Equal(144 + 272, bpw.MatrixBytes);
        Assert.Equal(512, bpw.MatrixElements);
        Assert.Equal(8.0 * (144 + 272) / 512, bpw.Matrices, 12); // 6.5: the two matrices' average
        Assert.Equal(8.0 * (144 + 272 + 256) / 576, bpw.Tensors, 12);
        // The file adds the header, the 100-word vocabulary and alignment padding on top of the tensor data.
        Assert.True(bpw.FileBytes > bpw.TensorBytes + 100 * 6, $"file {bpw.FileBytes} bytes, tensor data {bpw.TensorBytes}");
        Assert.Equal(8.0 * bpw.FileBytes / 576, bpw.File, 12);
        Assert.True(bpw.File > bpw.Tensors && bpw.Tensors > bpw.Matrices);
    }

    [Fact]
    public void A_file_without_matrices_is_refused_with_its_name()
    {
        using var dir = new TempDirectory();
        string path = dir.File("norms-only.gguf");
        new GgufWriter().AddTensor("norm", [64], new float[64]).WriteFile(path);

        var e = Assert.Throws<InvalidDataException>(() => GgufBitsPerWeight.Of(path));
        Assert.Contains("norms-only.gguf", e.Message);
        Assert.Contains("two or more dimensions", e.Message);
    }
}
