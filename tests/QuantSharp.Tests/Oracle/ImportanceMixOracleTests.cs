// Importance-weighted mixes on a real model: every tensor equals ggml_quantize_chunk with the entry llama-quantize would pass.
using System.Runtime.InteropServices;
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
public sealed class ImportanceMixOracleTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-imix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // llama.cpp b8390 takes the imatrix as a C++ std::unordered_map, which P/Invoke cannot build, so
    // llama_model_quantize itself cannot be handed one here; ggml_quantize_chunk (what it calls per tensor) can.
    [OracleTheory]
    [InlineData("Q4_K_M")]
    [InlineData("Q2_K_S")]
    [InlineData("Q4_0")]
    [InlineData("IQ4_XS")]
    public void EveryTensorIsGgmlsImportanceWeightedQuantization(string name)
    {
        var fileType = LlamaCppFileTypeNames.Parse(name);
        using var src = new GgufFile(models.SotuGguf);
        // Deterministic positive weights per column for every block tensor but two (they must be quantized without).
        var missing = new HashSet<string>(StringComparer.Ordinal) { "token_embd.weight", "blk.3.attn_k.weight" };
        var importance = new Dictionary<string, float[]>(StringComparer.Ordinal);
        int seed = 0;
        foreach (var t in src.Tensors)
        {
            if (t.Dimensions.Length != 2 || missing.Contains(t.Name)) continue;
            var rng = new Random(++seed);
            var w = new float[t.Dimensions[0]];
            for (int i = 0; i < w.Length; i++) w[i] = (float)Math.Exp(rng.NextDouble() * 8 - 4);
            importance[t.Name] = w;
        }
        if (fileType == LlamaCppFileType.Q2_K_S)
        {
            // Q2_K_S needs every Q2_K tensor's entry: without blk.3.attn_k's, it refuses and names it.
            using var m0 = LlamaModel.Load(models.SotuFolder);
            var ex = Assert.Throws<InvalidOperationException>(() => LlamaCppMixRecipe.Quantize(m0, Path.Combine(_dir, "refused.gguf"), fileType, importance));
            Assert.Contains("blk.3.attn_k.weight", ex.Message);
            missing.Remove("blk.3.attn_k.weight");
            var rng = new Random(99);
            importance["blk.3.attn_k.weight"] = Enumerable.Range(0, 512).Select(_ => (float)rng.NextDouble() + 0.5f).ToArray();
        }

        string ours = Path.Combine(_dir, $"ours-{name}.gguf");
        using (var model = LlamaModel.Load(models.SotuFolder))
            LlamaCppMixRecipe.Quantize(model, ours, fileType, importance);
        using var q = new GgufFile(ours);
        int weighted = 0;
        foreach (var t in q.Tensors)
        {
            if (!GgmlTypeInfo.Of(t.Type).IsBlockQuantized) continue;
            var rows = MemoryMarshal.Cast<byte, float>(src.GetRawBytes(t.Name));
            int cols = checked((int)t.Dimensions[0]);
            var entry = importance.GetValueOrDefault(t.Name);
            var expected = GgmlQuantOracle.Quantize((int)t.Type, rows, rows.Length / cols, cols, entry);
            Assert.True(expected.AsSpan().SequenceEqual(q.GetRawBytes(t.Name)), $"{name}: {t.Name} ({t.Type}, {(entry is null ? "no imatrix" : "imatrix")}) differs from ggml");
            if (entry != null) weighted++;
        }
        Assert.True(weighted >= 50, $"only {weighted} tensors were importance-weighted");
        if (fileType == LlamaCppFileType.Q4_0) Assert.Equal(GgmlType.Q4_1, q.GetInfo("blk.0.ffn_down.weight").Type);
        if (fileType == LlamaCppFileType.IQ4_XS) Assert.Equal(GgmlType.IQ4_XS, q.GetInfo("blk.0.ffn_down.weight").Type);
        output.WriteLine($"{name}: {weighted} tensors importance-weighted, all {q.Tensors.Count} tensors equal to ggml_quantize_chunk");
    }
}
