// An importance matrix reaches the block quantizer of the tensor it is keyed by, under llama-quantize's rules.
using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Tests.Quantization;

[Trait("Category", "RealModel")]
public sealed class ImportancePlumbingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-imatrix-").FullName;
    private readonly string _source;

    public ImportancePlumbingTests()
    {
        // An F32 GGUF of stories260K: its tensors are exactly the fp32 rows the quantizer sees (already in GGUF row order).
        _source = Path.Combine(_dir, "stories-f32.gguf");
        using var m = LlamaModel.Load(SharedData.Model("stories260K", "stories260K.bin"));
        GgufLlamaExporter.Export(m, _source, GgmlType.F32);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[] Weights(int n, int seed)
    {
        var rng = new Random(seed);
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float)Math.Exp(rng.NextDouble() * 6 - 3); // spread like squared activations
        return w;
    }

    private string Quantize(LlamaCppFileType type, IReadOnlyDictionary<string, float[]>? importance, string name)
    {
        string path = Path.Combine(_dir, name + ".gguf");
        using var model = LlamaModel.Load(_source);
        LlamaCppMixRecipe.Quantize(model, path, type, importance);
        return path;
    }

    private byte[] Expected(string tensor, GgmlType type, float[]? importance)
    {
        using var src = new GgufFile(_source);
        var rows = MemoryMarshal.Cast<byte, float>(src.GetRawBytes(tensor)).ToArray();
        int cols = checked((int)src.GetInfo(tensor).Dimensions[0]);
        var dst = new byte[GgmlTypeInfo.Of(type).TensorByteSize([cols, rows.Length / cols])];
        BlockQuantizer.QuantizeRows(GgmlTypeInfo.Of(type).CoreType!.Value, rows, cols, dst, importance);
        return dst;
    }

    [Fact]
    public void AnEntryReachesTheEncoderOfItsTensorOnly()
    {
        const string weighted = "blk.1.ffn_up.weight", plain = "blk.2.ffn_up.weight";
        var w = Weights(64, 1);
        string path = Quantize(LlamaCppFileType.Q4_K_M, new Dictionary<string, float[]> { [weighted] = w }, "weighted");
        using var f = new GgufFile(path);
        var type = f.GetInfo(weighted).Type; // Q5_0: Q4_K's fallback for 64-value rows
        Assert.Equal(GgmlType.Q5_0, type);
        Assert.Equal(Expected(weighted, type, w), f.GetRawBytes(weighted).ToArray());
        Assert.NotEqual(Expected(weighted, type, null), f.GetRawBytes(weighted).ToArray());
        Assert.Equal(Expected(plain, f.GetInfo(plain).Type, null), f.GetRawBytes(plain).ToArray());
    }

    [Fact]
    public void AWrongLengthEntryIsAnErrorNamingTheTensorAndBothLengths()
    {
        var ex = Assert.Throws<InvalidDataException>(() =>
            Quantize(LlamaCppFileType.Q4_K_M, new Dictionary<string, float[]> { ["blk.0.ffn_down.weight"] = Weights(64, 2) }, "wrong"));
        Assert.Contains("blk.0.ffn_down.weight", ex.Message);
        Assert.Contains("64", ex.Message);
        Assert.Contains("172", ex.Message);
        Assert.Empty(Directory.GetFiles(_dir, "wrong*"));
    }

    [Fact]
    public void AWrongLengthTokenEmbeddingEntryIsIgnoredAsLlamaCppDoes()
    {
        string with = Quantize(LlamaCppFileType.Q6_K, new Dictionary<string, float[]> { ["token_embd.weight"] = Weights(10, 3) }, "embd");
        string without = Quantize(LlamaCppFileType.Q6_K, null, "plain");
        using var a = new GgufFile(with);
        using var b = new GgufFile(without);
        Assert.Equal(b.GetRawBytes("token_embd.weight").ToArray(), a.GetRawBytes("token_embd.weight").ToArray());
    }

    [Fact]
    public void NonFiniteImportanceIsRejectedBeforeAnythingIsWritten()
    {
        var w = Weights(64, 4);
        w[7] = float.NaN;
        var ex = Assert.Throws<InvalidDataException>(() => Quantize(LlamaCppFileType.Q4_K_M, new Dictionary<string, float[]> { ["blk.0.attn_q.weight"] = w }, "nan"));
        Assert.Contains("blk.0.attn_q.weight", ex.Message);
        Assert.Empty(Directory.GetFiles(_dir, "nan*"));
    }

    [Fact]
    public void Q2KSmallNeedsAnEntryForEveryQ2KTensor()
    {
        using var model = LlamaModel.Load(_source);
        var plan = LlamaCppMixRecipe.Plan(model, LlamaCppFileType.Q2_K_S, hasImportance: true);
        // stories260K's rows fit no 256-block, so nothing stays Q2_K and Q2_K_S has nothing that needs an imatrix:
        Assert.DoesNotContain(GgmlType.Q2_K, plan.Values);
        Quantize(LlamaCppFileType.Q2_K_S, null, "q2ks");
        // The requirement itself, on a tensor that would be Q2_K:
        var ex = Assert.Throws<InvalidOperationException>(() => TensorImportance.For(new Dictionary<string, float[]>(), "blk.3.ffn_up.weight", GgmlType.Q2_K, 512, LlamaCppFileType.Q2_K_S));
        Assert.Contains("blk.3.ffn_up.weight", ex.Message);
        Assert.True(TensorImportance.For(null, "token_embd.weight", GgmlType.Q2_K, 512, LlamaCppFileType.Q2_K_S).IsEmpty);
        Assert.True(TensorImportance.For(null, "blk.3.ffn_up.weight", GgmlType.Q2_K, 512, LlamaCppFileType.Q2_K).IsEmpty);
    }

    [Fact]
    public void PureRecipeUsesTheEntriesToo()
    {
        const string name = "blk.0.attn_v.weight";
        var w = Weights(64, 5);
        string path = Path.Combine(_dir, "pure.gguf");
        using (var model = LlamaModel.Load(_source))
            PureGgufRecipe.Quantize(model, path, QuantSharp.Core.Tensors.DType.Q4_K, new Dictionary<string, float[]> { [name] = w });
        using var f = new GgufFile(path);
        Assert.Equal(Expected(name, f.GetInfo(name).Type, w), f.GetRawBytes(name).ToArray());
    }
}
