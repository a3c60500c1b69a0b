// Regression test (issue 12): a finite bf16 weight of 3.39e38 in a real model makes Q4_K_M refuse, naming the tensor, instead of writing an Inf scale.
using System.Buffers.Binary;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Reliability;

[Trait("Category", "RealModel")]
public sealed class OverflowingWeightQuantizeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Q4KMRefusesAWeightNoFp16ScaleCanHold()
    {
        string source = SharedData.Model("sotu-llama-30m");
        string model = Path.Combine(_dir.Path, "model");
        Directory.CreateDirectory(model);
        const string shard = "model-00001-of-00005.safetensors", tensor = "model.layers.0.self_attn.q_proj.weight";
        foreach (var f in Directory.GetFiles(source))
            if (Path.GetFileName(f) != shard) File.CreateSymbolicLink(Path.Combine(model, Path.GetFileName(f)), f);
        // Copy the shard holding layer 0's q_proj and set one of its bf16 weights to 0x7F7F, the
        // largest finite bf16 (3.39e38): it passes the load-time finite check.
        var bytes = File.ReadAllBytes(Path.Combine(source, shard));
        long offset;
        using (var st = new SafetensorsFile(Path.Combine(source, shard)))
        {
            var t = st.Get(tensor);
            Assert.Equal(QuantSharp.Core.Tensors.DType.BF16, t.DType);
            offset = FindTensorStart(st, tensor, (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        }
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)offset + 2 * 1000), 0x7F7F);
        File.WriteAllBytes(Path.Combine(model, shard), bytes);

        string output = Path.Combine(_dir.Path, "out.gguf");
        using var m = LlamaModel.Load(model);
        var e = Assert.Throws<InvalidDataException>(() => LlamaCppMixRecipe.Quantize(m, output, LlamaCppFileType.Q4_K_M));
        Assert.Contains("blk.0.attn_q.weight", e.Message);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_dir.Path, "out.gguf.tmp-*"));
    }

    // The tensor's absolute file offset: data_offsets[0] + 8 + header length (read back from the parsed file).
    private static unsafe long FindTensorStart(SafetensorsFile st, string name, long headerLength)
    {
        var t = st.Get(name);
        var first = st.Get(st.TensorNames.OrderBy(n => (long)st.Get(n).Pointer).First());
        // The lowest tensor pointer is the data section start iff its data_offsets begin at 0, which
        // safetensors writers guarantee (tensors are packed from 0).
        return 8 + headerLength + ((long)t.Pointer - (long)first.Pointer);
    }
}
