// --tensor-type / --token-embedding-type / --output-tensor-type against llama_model_quantize given the same overrides: same types, same bytes.
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class TensorTypeOverrideOracleTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-override-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [OracleFact]
    public void SotuQ4KMWithTensorTypesAndAnEmbeddingTypeIsLlamaQuantizes()
    {
        // The first matching entry wins (blk.0.ffn_down: q5_k, not the later q6_k; blk.1.ffn_gate: iq4_xs before the
        // ffn_(up|gate) entry); the tensors taken by an entry are not counted by the mix's rule, so blk.2.ffn_down is the
        // rule's "first" ffn_down and gets Q4_K_M's Q6_K (without overrides it is Q4_K); the tied embedding's Q6_K → Q5_K.
        var overrides = Overrides(["blk\\.[01]\\.ffn_down=q5_k", "blk\\.1\\.ffn_gate=iq4_xs", "ffn_(up|gate)=q3_k", "attn_v=q8_0", "blk\\.0\\.ffn_down=q6_k"],
            tokenEmbedding: "q5_k");
        var types = Compare(models.SotuFolder, models.SotuGguf, LlamaCppFileType.Q4_K_M, overrides, "sotu");
        Assert.Equal(GgmlType.Q5_K, types["blk.0.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q6_K, types["blk.2.ffn_down.weight"]);
        Assert.Equal(GgmlType.IQ4_XS, types["blk.1.ffn_gate.weight"]);
        Assert.Equal(GgmlType.Q3_K, types["blk.0.ffn_up.weight"]);
        Assert.Equal(GgmlType.Q8_0, types["blk.7.attn_v.weight"]);
        Assert.Equal(GgmlType.Q4_K, types["blk.3.attn_q.weight"]); // no entry: the mix's type
        Assert.Equal(GgmlType.Q5_K, types["token_embd.weight"]);
        using var plain = LlamaModel.Load(models.SotuFolder);
        Assert.Equal(GgmlType.Q4_K, LlamaCppMixRecipe.Plan(plain, LlamaCppFileType.Q4_K_M)["blk.2.ffn_down.weight"]);
    }

    [OracleFact]
    public void StoriesTensorTypesApplyWhereTheMixWouldFallBackAndTheirOwnFallbackToo()
    {
        // stories260K's rows of 64 fit no 256-block: Q4_K_M's Q4_K falls back to Q5_0 there; an entry's Q8_0 fits and holds,
        // an entry's Q6_K falls back to Q8_0 as the mix's would.
        var overrides = Overrides(["attn_q=q8_0", "ffn_up=q6_k"], tokenEmbedding: "q8_0");
        var types = Compare(models.StoriesCheckpoint, models.StoriesGguf, LlamaCppFileType.Q4_K_M, overrides, "stories");
        Assert.Equal(GgmlType.Q8_0, types["blk.0.attn_q.weight"]);
        Assert.Equal(GgmlType.Q8_0, types["blk.0.ffn_up.weight"]);
        Assert.Equal(GgmlType.Q5_0, types["blk.0.attn_k.weight"]);
        Assert.Equal(GgmlType.Q8_0, types["token_embd.weight"]);
    }

    [OracleFact]
    public void AnUntiedClassifierTakesTheOutputTensorType()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Mistral, Path.Combine(_dir, "mistral"));
        string gguf = Path.Combine(_dir, "mistral-f32.gguf");
        using (var m = LlamaModel.Load(folder)) GgufLlamaExporter.Export(m, gguf, GgmlType.F32);
        var overrides = Overrides(["attn_k=q5_k"], tokenEmbedding: "q5_k", output: "q8_0");
        var types = Compare(folder, gguf, LlamaCppFileType.Q4_K_M, overrides, "mistral");
        Assert.Equal(GgmlType.Q8_0, types["output.weight"]);
        Assert.Equal(GgmlType.Q5_K, types["token_embd.weight"]);
        Assert.Equal(GgmlType.Q5_K, types["blk.1.attn_k.weight"]);
    }

    private static TensorTypeOverrides Overrides(string[] tensorTypes, string? tokenEmbedding = null, string? output = null) => new()
    {
        TensorTypes = [.. tensorTypes.Select(TensorTypeOverrides.ParseTensorType)],
        TokenEmbeddingType = tokenEmbedding is null ? null : TensorTypeOverrides.ParseType(tokenEmbedding),
        OutputTensorType = output is null ? null : TensorTypeOverrides.ParseType(output),
    };

    /// <summary>Quantizes with both quantizers and checks every tensor's type and bytes; returns our types.</summary>
    private Dictionary<string, GgmlType> Compare(string model, string f32Gguf, LlamaCppFileType fileType, TensorTypeOverrides overrides, string label)
    {
        string ours = Path.Combine(_dir, $"{label}-ours.gguf"), theirs = Path.Combine(_dir, $"{label}-cpp.gguf");
        using (var m = LlamaModel.Load(model)) LlamaCppMixRecipe.Quantize(m, ours, fileType, overrides: overrides);
        var native = new LlamaQuantizeOverrides([.. overrides.TensorTypes.Select(o => (o.Pattern, (int)o.Type))],
            overrides.TokenEmbeddingType is { } te ? (int)te : null, overrides.OutputTensorType is { } ot ? (int)ot : null);
        LlamaCppQuantizer.Quantize(f32Gguf, theirs, (LlamaFileType)(int)fileType, threads: 2, overrides: native);
        using var a = new GgufFile(ours);
        using var b = new GgufFile(theirs);
        Assert.Equal(b.TensorNames.Order(StringComparer.Ordinal), a.TensorNames.Order(StringComparer.Ordinal));
        var types = new Dictionary<string, GgmlType>(StringComparer.Ordinal);
        foreach (var name in b.TensorNames)
        {
            var expected = b.GetInfo(name).Type;
            Assert.True(expected == a.GetInfo(name).Type, $"{label}: {name} is {a.GetInfo(name).Type}, llama.cpp chose {expected}");
            Assert.True(a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name)), $"{label}: tensor {name} ({expected}) differs from llama.cpp's");
            types[name] = expected;
        }
        output.WriteLine($"{label} {fileType} {overrides}: {a.Tensors.Count} tensors as llama.cpp, {new FileInfo(ours).Length:N0} bytes");
        return types;
    }
}
