// Each architecture's fixture through llama.cpp b8390: our GGUF export, F16/Q4_K_M files and every named mix.
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Architectures;

/// <summary>Collection fixture: every llama.cpp-runnable architecture fixture as an HF folder and our F32 GGUF of it.</summary>
public sealed class ArchitectureFixtures : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-arch-").FullName;

    public ArchitectureFixtures()
    {
        foreach (var spec in ArchitectureSpec.LlamaCppRunnable)
        {
            // The folder's name becomes general.name: not "phi3", for which llama.cpp looks up tokens sotu's vocabulary lacks.
            string folder = ArchitectureFixture.Write(spec, Path.Combine(_dir, spec.Name, "hf"));
            string gguf = Path.Combine(_dir, spec.Name + "-f32.gguf");
            using (var m = LlamaModel.Load(folder)) GgufLlamaExporter.Export(m, gguf, GgmlType.F32);
            Folders[spec.Name] = folder;
            Ggufs[spec.Name] = gguf;
        }
        Tokens = ArchitectureReferenceTests.Tokens(4096);
    }

    public Dictionary<string, string> Folders { get; } = [];
    public Dictionary<string, string> Ggufs { get; } = [];
    public int[] Tokens { get; }
    public string Scratch(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class ArchitectureCollection : ICollectionFixture<ArchitectureFixtures>
{
    public const string Name = "architecture fixtures through llama.cpp";
}

[Collection(ArchitectureCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class ArchitectureOracleTests(ArchitectureFixtures fx, ITestOutputHelper output)
{
    public static TheoryData<string> Dense() => new() { "llama", "mistral", "qwen2", "qwen3", "gemma3_text", "phi3" };

    public static TheoryData<string> Runnable() => new() { "llama", "mistral", "qwen2", "qwen3", "gemma3_text", "qwen3_moe", "mixtral", "phi3" };

    [OracleTheory]
    [MemberData(nameof(Runnable))]
    public void LogitsOnA128TokenWindowAndGreedy32MatchLlamaCppOnOurGguf(string name)
    {
        using var cpp = LlamaCppModel.Load(fx.Ggufs[name]);
        using var ctx = cpp.CreateContext(256, 256, threads: 2, f32Cache: true);
        int[] window = fx.Tokens[..128];
        float[] reference = ctx.Evaluate(window);
        float range = reference.Max() - reference.Min();
        using var hf = LlamaModel.Load(fx.Folders[name]);
        using var gguf = LlamaModel.Load(fx.Ggufs[name]);
        Assert.Equal(hf.Parameters.Architecture.GgufArchitecture, gguf.Parameters.Architecture.GgufArchitecture);
        foreach (var model in new[] { hf, gguf })
        {
            var ours = new float[reference.Length];
            new InferenceSession(model, 256).Forward(window, ours, allLogits: true);
            float worst = 0;
            for (int i = 0; i < ours.Length; i++) worst = Math.Max(worst, Math.Abs(ours[i] - reference[i]));
            output.WriteLine($"{name} ({model.Format}): max |Δ| {worst:E3} of range {range:F3}");
            Assert.True(worst <= 1e-3f * range, $"{name} {model.Format}: max |Δ| {worst} vs logit range {range}");
        }
        ctx.ClearMemory();
        int[] prompt = fx.Tokens[..8];
        int[] expected = ctx.GreedyGenerate(prompt, 32, stopAtEndOfGeneration: false);
        var got = new TextGenerator(hf, new InferenceSession(hf, 256), new TokenSampler()).Generate(prompt, 32, stopAtEos: false).ToArray();
        Assert.Equal(32, expected.Length);
        Assert.Equal(expected, got);
    }

    [OracleTheory]
    [MemberData(nameof(Runnable))]
    public void OurF16AndQ4KMFilesAndLlamaQuantizesQ4KMAgreeInBothEngines(string name)
    {
        string f16 = fx.Scratch($"{name}-f16.gguf"), ours = fx.Scratch($"{name}-q4km.gguf"), theirs = fx.Scratch($"{name}-cpp-q4km.gguf");
        using (var m = LlamaModel.Load(fx.Folders[name]))
        {
            GgufLlamaExporter.Export(m, f16, GgmlType.F16);
            LlamaCppMixRecipe.Quantize(m, ours, LlamaCppFileType.Q4_K_M);
        }
        LlamaCppQuantizer.Quantize(fx.Ggufs[name], theirs, LlamaFileType.MostlyQ4_K_M, threads: 2);
        AssertSameTensors(ours, theirs);
        try
        {
            foreach (var file in new[] { f16, ours, theirs })
            {
                using var model = LlamaModel.Load(file);
                using var cpp = LlamaCppModel.Load(file);
                using var ctx = cpp.CreateContext(128, 128, threads: 2, f32Cache: true);
                var a = new PerplexityEvaluator(new SessionLogitsProvider(model, 128)).Evaluate(fx.Tokens, 128, PerplexityStyle.LlamaCpp, null);
                var b = new PerplexityEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(fx.Tokens, 128, PerplexityStyle.LlamaCpp, null);
                output.WriteLine($"{name} {Path.GetFileName(file)}: ours {a} llama.cpp {b}");
                Assert.Equal(32, a.Windows);
                // F16: within 0.1 % (measured ≤ 0.003 %). Block-quantized weights: llama.cpp multiplies them with
                // activations rounded to 8 bits (Q8_K), our prefill with fp32 activations; on these random-weight
                // models (PPL ≈ 28,000, logits of ±8) that rounding alone moves the PPL by 0.002–0.13 % (32 windows).
                // Mixtures of experts: llama.cpp rounds activations to fp16 for F16 weights, and a token whose top-k
                // experts are a near-tie can then be routed differently (measured 0.10 % on the Qwen3-MoE fixture).
                double bound = file == f16 && !name.Contains("moe") && name != "mixtral" ? 1e-3 : 2.5e-3;
                Assert.True(Math.Abs(a.Perplexity / b.Perplexity - 1) < bound, $"{file}: ours {a} vs llama.cpp {b}");
            }
        }
        finally
        {
            File.Delete(f16);
            File.Delete(ours);
            File.Delete(theirs);
        }
    }

    public static TheoryData<string, string> MixesOfNewArchitectures()
    {
        // Every mix on the families whose tensors the mix rules treat apart (Gemma's tied output and post norms, the
        // experts' ffn_*_exps, Phi-3's fused attn_qkv counted as attn_v); Qwen2/Qwen3 only differ from Llama in q/k/v biases and norms, which the rules never
        // read, so they take the mixes with the most rules (CI time: each case quantizes twice, ~3 s).
        var data = new TheoryData<string, string>();
        foreach (var arch in new[] { "gemma3_text", "qwen3_moe", "mixtral", "phi3" })
            foreach (var t in LlamaCppFileTypeNames.All)
                if (t != LlamaCppFileType.Q2_K_S) data.Add(arch, t.ToString());
        foreach (var arch in new[] { "qwen2", "qwen3" })
            foreach (var t in new[] { LlamaCppFileType.Q2_K, LlamaCppFileType.Q3_K_M, LlamaCppFileType.Q4_K_M, LlamaCppFileType.IQ4_XS })
                data.Add(arch, t.ToString());
        return data;
    }

    [OracleTheory]
    [MemberData(nameof(MixesOfNewArchitectures))]
    public void EveryNamedMixIsTensorIdenticalToLlamaQuantize(string name, string mix)
    {
        var fileType = LlamaCppFileTypeNames.Parse(mix);
        string ours = fx.Scratch($"{name}-ours-{mix}.gguf"), theirs = fx.Scratch($"{name}-cpp-{mix}.gguf");
        try
        {
            using (var model = LlamaModel.Load(fx.Folders[name])) LlamaCppMixRecipe.Quantize(model, ours, fileType);
            LlamaCppQuantizer.Quantize(fx.Ggufs[name], theirs, (LlamaFileType)(int)fileType, threads: 2);
            AssertSameTensors(ours, theirs);
        }
        finally
        {
            File.Delete(ours);
            File.Delete(theirs);
        }
    }

    [OracleFact]
    public void APhi3GgufSlidingWindowRunsInOurEngineAsTransformersDoesWhileLlamaCppIgnoresIt()
    {
        // llama.cpp's converter writes Phi-3-mini's window (2047) as phi3.attention.sliding_window; b8390 reads it and runs
        // full attention ("Phi SWA is currently disabled"). Our engine applies it, as transformers does.
        string windowed = fx.Scratch("phi3-swa16.gguf"), longrope = fx.Scratch("phi3-longrope.gguf");
        try
        {
            CopyGguf(fx.Ggufs["phi3"], windowed, md => md.SetUInt32("phi3.attention.sliding_window", 16));
            int[] tokens = fx.Tokens[..40];
            int v = ArchitectureSpec.Phi3.Vocab;
            float[] Ours(LlamaModel m) { var l = new float[tokens.Length * v]; new InferenceSession(m, 64).Forward(tokens, l, allLogits: true); return l; }
            using var gguf = LlamaModel.Load(windowed);
            Assert.Equal(16, gguf.Parameters.SlidingWindow);
            using var dir = new QuantSharp.Tests.Gguf.TempDirectory();
            using var hfWindow = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Phi3Window, dir.File("w")));
            using var full = LlamaModel.Load(fx.Folders["phi3"]);
            float[] a = Ours(gguf), b = Ours(hfWindow), c = Ours(full);
            Assert.Equal(b, a); // the same weights in F32, the same window: the same logits
            using var cpp = LlamaCppModel.Load(windowed);
            using var ctx = cpp.CreateContext(64, 64, threads: 2, f32Cache: true);
            float[] theirs = ctx.Evaluate(tokens);
            float range = theirs.Max() - theirs.Min();
            double ToFull = 0, ToWindow = 0;
            for (int i = 20 * v; i < theirs.Length; i++)
            {
                ToFull = Math.Max(ToFull, Math.Abs(theirs[i] - c[i]));
                ToWindow = Math.Max(ToWindow, Math.Abs(theirs[i] - a[i]));
            }
            output.WriteLine($"positions 20–39: llama.cpp vs ours with full attention {ToFull:E3}, vs ours with the window {ToWindow:E3} (range {range:F3})");
            Assert.True(ToFull <= 1e-3 * range && ToWindow > 1e-2 * range);

            // Phi-3 128k's LongRoPE factors are refused by name, not ignored.
            CopyGguf(fx.Ggufs["phi3"], longrope, _ => { }, ("rope_factors_long.weight", new float[ArchitectureSpec.Phi3.HeadDim / 2]));
            var ex = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(longrope));
            Assert.Contains("rope_factors_long.weight", ex.Message);
        }
        finally
        {
            File.Delete(windowed);
            File.Delete(longrope);
        }
    }

    /// <summary>A copy of a GGUF with its metadata edited and optionally one F32 tensor added.</summary>
    private static void CopyGguf(string source, string destination, Action<QuantSharp.Formats.Gguf.GgufMetadata> edit, (string Name, float[] Values)? extra = null)
    {
        using var g = new GgufFile(source);
        var md = new QuantSharp.Formats.Gguf.GgufMetadata(destination);
        foreach (var (key, value) in g.Metadata.Entries) md.Set(key, value);
        edit(md);
        var w = new GgufWriter(md);
        foreach (var name in g.TensorNames)
        {
            var info = g.GetInfo(name);
            w.AddTensor(name, info.Type, info.Shape, g.GetRawBytes(name).ToArray());
        }
        if (extra is { } t) w.AddTensor(t.Name, [t.Values.Length], t.Values);
        w.WriteFile(destination);
    }

    private void AssertSameTensors(string ours, string theirs)
    {
        using var a = new GgufFile(ours);
        using var b = new GgufFile(theirs);
        Assert.Equal(b.TensorNames.Order(StringComparer.Ordinal), a.TensorNames.Order(StringComparer.Ordinal));
        foreach (var t in b.TensorNames)
        {
            Assert.True(b.GetInfo(t).Type == a.GetInfo(t).Type, $"{t} is {a.GetInfo(t).Type}, llama.cpp chose {b.GetInfo(t).Type}");
            Assert.True(a.GetRawBytes(t).SequenceEqual(b.GetRawBytes(t)), $"tensor {t} ({b.GetInfo(t).Type}) differs from llama.cpp's");
        }
        Assert.Equal(b.Metadata.GetString(LlamaGgufNames.Architecture), a.Metadata.GetString(LlamaGgufNames.Architecture));
    }
}
