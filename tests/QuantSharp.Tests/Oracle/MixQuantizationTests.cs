// `quantsharp quantize --type Q4_K_M` (and every other named mix) against llama_model_quantize: same types, same bytes.
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class MixQuantizationTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-mix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every mix llama.cpp can make without an importance matrix (Q2_K_S needs one: tested below).</summary>
    public static TheoryData<string> RoundToNearestMixes()
    {
        var data = new TheoryData<string>();
        foreach (var t in LlamaCppFileTypeNames.All)
            if (t != LlamaCppFileType.Q2_K_S) data.Add(t.ToString());
        return data;
    }

    [OracleTheory]
    [MemberData(nameof(RoundToNearestMixes))]
    public void SotuMixHasLlamaQuantizesTypesAndBytes(string name)
    {
        var fileType = LlamaCppFileTypeNames.Parse(name);
        string ours = Path.Combine(_dir, $"ours-{name}.gguf"), theirs = Path.Combine(_dir, $"cpp-{name}.gguf");
        using (var model = LlamaModel.Load(models.SotuFolder))
            LlamaCppMixRecipe.Quantize(model, ours, fileType);
        LlamaCppQuantizer.Quantize(models.SotuGguf, theirs, (LlamaFileType)(int)fileType, threads: 2);
        AssertSameTensors(fileType, ours, theirs, bytes: true);
    }

    [OracleTheory]
    [MemberData(nameof(RoundToNearestMixes))]
    public void StoriesMixFallsBackLikeLlamaQuantize(string name)
    {
        // stories260K's rows of 64 and 172 values fit no 256-block: every fallback path, and the types llama.cpp refuses.
        var fileType = LlamaCppFileTypeNames.Parse(name);
        string ours = Path.Combine(_dir, $"stories-ours-{name}.gguf"), theirs = Path.Combine(_dir, $"stories-cpp-{name}.gguf");
        Exception? cppError = Record.Exception(() => LlamaCppQuantizer.Quantize(models.StoriesGguf, theirs, (LlamaFileType)(int)fileType, threads: 2));
        using var model = LlamaModel.Load(models.StoriesGguf);
        if (cppError != null)
        {
            // llama.cpp has no fallback for the 32-block types on a row of 172 values: we refuse as clearly.
            var ex = Assert.Throws<NotSupportedException>(() => LlamaCppMixRecipe.Quantize(model, ours, fileType));
            Assert.Contains("172", ex.Message);
            Assert.False(File.Exists(ours));
            output.WriteLine($"{name}: refused by both ({ex.Message})");
            return;
        }
        LlamaCppMixRecipe.Quantize(model, ours, fileType);
        AssertSameTensors(fileType, ours, theirs, bytes: true);
    }

    [OracleFact]
    public void Q2KSmallNeedsAnImportanceMatrixInBothQuantizers()
    {
        string ours = Path.Combine(_dir, "ours-q2ks.gguf"), theirs = Path.Combine(_dir, "cpp-q2ks.gguf");
        Assert.Throws<InvalidOperationException>(() => LlamaCppQuantizer.Quantize(models.SotuGguf, theirs, LlamaFileType.MostlyQ2_K_S, threads: 2));
        using var model = LlamaModel.Load(models.SotuFolder);
        var ex = Assert.Throws<InvalidOperationException>(() => LlamaCppMixRecipe.Quantize(model, ours, LlamaCppFileType.Q2_K_S));
        Assert.Contains("importance matrix", ex.Message);
        Assert.False(File.Exists(ours));
    }

    private void AssertSameTensors(LlamaCppFileType fileType, string ours, string theirs, bool bytes)
    {
        using var a = new GgufFile(ours);
        using var b = new GgufFile(theirs);
        Assert.Equal(b.TensorNames.Order(StringComparer.Ordinal), a.TensorNames.Order(StringComparer.Ordinal));
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in b.TensorNames)
        {
            var expected = b.GetInfo(name).Type;
            Assert.True(expected == a.GetInfo(name).Type, $"{fileType}: {name} is {a.GetInfo(name).Type}, llama.cpp chose {expected}");
            if (bytes) Assert.True(a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name)), $"{fileType}: tensor {name} ({expected}) differs from llama.cpp's");
            counts[expected.ToString()] = counts.GetValueOrDefault(expected.ToString()) + 1;
        }
        Assert.Equal((uint)fileType, a.Metadata.GetUInt32(LlamaGgufNames.FileType));
        Assert.Equal(b.Metadata.GetUInt32(LlamaGgufNames.FileType), a.Metadata.GetUInt32(LlamaGgufNames.FileType));
        output.WriteLine($"{fileType}: {a.Tensors.Count} tensors as llama.cpp ({string.Join(", ", counts.Select(kv => $"{kv.Value}×{kv.Key}"))}), {new FileInfo(ours).Length:N0} bytes");
    }
}
