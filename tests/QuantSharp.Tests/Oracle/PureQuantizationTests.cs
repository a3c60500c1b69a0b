// `quantsharp quantize --type T` against llama-quantize --pure: the same bytes in every tensor, and llama.cpp runs our files.
using QuantSharp.Core.Tensors;
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
public sealed class PureQuantizationTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-pure-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LlamaFileType FileTypeOf(DType t) => (LlamaFileType)(int)PureGgufRecipe.FileType(t);

    [OracleFact]
    public void EveryTypeGivesTheSameTensorBytesAsLlamaQuantizePure()
    {
        using var model = LlamaModel.Load(models.SotuFolder);
        foreach (var type in PureGgufRecipe.SupportedTypes)
        {
            string ours = Path.Combine(_dir, $"ours-{type}.gguf"), theirs = Path.Combine(_dir, $"cpp-{type}.gguf");
            PureGgufRecipe.Quantize(model, ours, type);
            LlamaCppQuantizer.Quantize(models.SotuGguf, theirs, FileTypeOf(type), threads: 2, pure: true);
            using var a = new GgufFile(ours);
            using var b = new GgufFile(theirs);
            Assert.Equal(b.TensorNames.OrderBy(n => n, StringComparer.Ordinal), a.TensorNames.OrderBy(n => n, StringComparer.Ordinal));
            foreach (var name in b.TensorNames)
            {
                Assert.Equal(b.GetInfo(name).Type, a.GetInfo(name).Type);
                Assert.True(a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name)), $"{type}: tensor {name} differs from llama.cpp's");
            }
            Assert.Equal(PureGgufRecipe.FileType(type), a.Metadata.GetUInt32(LlamaGgufNames.FileType));
            output.WriteLine($"{type}: {a.Tensors.Count} tensors byte-identical to llama-quantize --pure, {new FileInfo(ours).Length:N0} bytes");
            File.Delete(ours);
            File.Delete(theirs);
        }
    }

    [OracleFact]
    public void LlamaCppRunsOurQuantizedFilesIncludingFallbackRows()
    {
        // stories260K's rows of 64 and 172 values exercise the fallback types (172 is not a multiple of 32: F16).
        using var model = LlamaModel.Load(models.StoriesGguf);
        foreach (var type in new[] { DType.Q4_K, DType.Q6_K, DType.Q2_K })
        {
            string path = Path.Combine(_dir, $"stories-{type}.gguf");
            PureGgufRecipe.Quantize(model, path, type);
            using var cpp = LlamaCppModel.Load(path);
            using var ctx = cpp.CreateContext(64, 64, threads: 2);
            var tokens = model.Tokenizer!.Encode("Once upon a time there was a cat", addBos: true);
            Assert.All(ctx.Evaluate(tokens), v => Assert.True(float.IsFinite(v)));
        }
    }
}
