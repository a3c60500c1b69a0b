// GPTQ (and AWQ) inside llama.cpp's named mixes: llama-quantize's tensor types, loadable by llama.cpp and our engine, lower KLD.
using System.Diagnostics;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

/// <summary>
/// <c>quantize --type MIX --method gptq|awq+gptq|rtn|awq --calib TEXT</c>: every tensor has the type llama_model_quantize
/// gives it for MIX, the file loads in llama.cpp (b8390) and in our engine, and on sotu-llama-30m the GPTQ-rounded mix has
/// a lower mean KL-divergence against the F32 model, measured by llama.cpp, than llama.cpp's own mix with an importance
/// matrix of the same calibration text (our imatrix collection and our quantizer, whose bytes are llama.cpp's for the
/// same entries — ImatrixOracleTests, ImportanceMixOracleTests), at the same tensor bytes.
/// </summary>
[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
[Trait("Category", "RealModel")]
public sealed class GptqMixTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    // 8 llama.cpp windows of 512 tokens of the test years; calibration 16 × 256 tokens of the training years for both.
    private const int Windows = 8, Context = 512, Samples = 16, SequenceLength = 256;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Cli(params string[] args)
    {
        var r = QuantSharpProcess.Run(args);
        Assert.True(r.Code == 0, $"quantsharp {string.Join(' ', args)}: {r.Err}");
    }

    private static KlDivergenceResult LlamaCppKld(string path, SavedLogits baseLogits)
    {
        using var cpp = LlamaCppModel.Load(path);
        using var ctx = cpp.CreateContext(Context, Context, threads: 2, f32Cache: true);
        return new KlDivergenceEvaluator(new LlamaCppLogitsProvider(ctx)).Evaluate(baseLogits);
    }

    /// <summary>Tensor types of <paramref name="ours"/> against llama-quantize's <paramref name="theirs"/>; returns the tensor bytes.</summary>
    private static long AssertLlamaCppTypes(string mix, string ours, string theirs)
    {
        using var a = new GgufFile(ours);
        using var b = new GgufFile(theirs);
        Assert.Equal(b.TensorNames.Order(StringComparer.Ordinal), a.TensorNames.Order(StringComparer.Ordinal));
        long bytes = 0;
        foreach (var name in b.TensorNames)
        {
            Assert.True(b.GetInfo(name).Type == a.GetInfo(name).Type, $"{mix}: {name} is {a.GetInfo(name).Type}, llama-quantize chose {b.GetInfo(name).Type}");
            bytes += a.GetRawBytes(name).Length;
        }
        Assert.Equal(b.Metadata.GetUInt32(LlamaGgufNames.FileType), a.Metadata.GetUInt32(LlamaGgufNames.FileType));
        return bytes;
    }

    private static string TypeCounts(string path)
    {
        using var f = new GgufFile(path);
        return string.Join(", ", f.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key.ToString(), StringComparer.Ordinal).Select(g => $"{g.Count()}×{g.Key}"));
    }

    [OracleTheory]
    [InlineData("Q4_K_M")]
    public void GptqMixHasLlamaQuantizesTypesAndLowerKldThanItsImatrixMix(string mix)
    {
        var sw = Stopwatch.StartNew();
        string sotu = models.SotuFolder, train = SharedData.DataFile("sotu", "train-1790-2009.txt");
        string basePath = SaveBaseLogits(Windows);
        using var baseLogits = SavedLogits.Open(basePath);

        // llama.cpp's mix with an importance matrix of the calibration budget (16 chunks of 256 tokens), and the same mix
        // rounded by GPTQ calibrated on 16 segments of 256 tokens of the same text.
        string imatrix = _dir.File("sotu.imatrix.gguf"), imx = _dir.File($"imatrix-{mix}.gguf"), gptq = _dir.File($"gptq-{mix}.gguf");
        string cppPlain = _dir.File($"llama-quantize-{mix}.gguf");
        Cli("imatrix", sotu, "-f", train, "--chunks", $"{Samples}", "-c", $"{SequenceLength}", "-o", imatrix);
        Cli("quantize", sotu, "--type", mix, "--imatrix", imatrix, "-o", imx);
        Cli("quantize", sotu, "--type", mix, "--method", "gptq", "--calib", train, "--nsamples", $"{Samples}", "--seqlen", $"{SequenceLength}", "--seed", "0", "-o", gptq);
        LlamaCppQuantizer.Quantize(models.SotuGguf, cppPlain, (LlamaFileType)(int)LlamaCppFileTypeNames.Parse(mix), threads: 2);
        long gptqBytes = AssertLlamaCppTypes(mix, gptq, cppPlain);
        long imxBytes = AssertLlamaCppTypes(mix, imx, cppPlain);
        Assert.Equal(imxBytes, gptqBytes);

        var a = LlamaCppKld(imx, baseLogits);
        var b = LlamaCppKld(gptq, baseLogits);
        // Our engine reads the GPTQ file as llama.cpp does: the same KLD up to the two engines' arithmetic.
        KlDivergenceResult ourEngine;
        using (var m = LlamaModel.Load(gptq))
            ourEngine = new KlDivergenceEvaluator(new SessionLogitsProvider(m, Context)).Evaluate(baseLogits);
        output.WriteLine($"{mix} ({TypeCounts(gptq)}; tensor bytes {gptqBytes:N0}; files {new FileInfo(imx).Length:N0} / {new FileInfo(gptq).Length:N0} bytes), " +
            $"mean KLD / same top token over {a.Positions} positions measured by llama.cpp: imatrix {a.MeanKld:F6} / {a.SameTopTokenRate:P2}, " +
            $"GPTQ {b.MeanKld:F6} / {b.SameTopTokenRate:P2}; GPTQ file in our engine {ourEngine.MeanKld:F6} / {ourEngine.SameTopTokenRate:P2}; {sw.Elapsed.TotalSeconds:F0} s");
        Assert.True(b.MeanKld < a.MeanKld, $"{mix}: GPTQ's mean KLD {b.MeanKld} is not below the imatrix mix's {a.MeanKld}");
        // The engines' arithmetic differs (activation rounding, summation order): a few percent of a KLD this small; a
        // tensor read wrongly would be orders of magnitude.
        Assert.InRange(ourEngine.MeanKld, b.MeanKld * 0.75, b.MeanKld * 1.25);
    }

    /// <summary>
    /// The table of docs/gptq.md: for each mix, llama.cpp's mean KLD of the plain mix, the mix with an importance matrix,
    /// and the mix rounded by --method rtn, gptq and awq+gptq, all calibrated on the same 16 × 256 tokens.
    /// </summary>
    [OracleFact(Skip = "measured once for docs/gptq.md (about 25 minutes on a shared 2-core machine); remove Skip to rerun")]
    public void MixKldTable()
    {
        string sotu = models.SotuFolder, train = SharedData.DataFile("sotu", "train-1790-2009.txt");
        string basePath = SaveBaseLogits(20);
        using var baseLogits = SavedLogits.Open(basePath);
        string imatrix = _dir.File("sotu.imatrix.gguf");
        Cli("imatrix", sotu, "-f", train, "--chunks", $"{Samples}", "-c", $"{SequenceLength}", "-o", imatrix);
        output.WriteLine($"mean KLD vs F32 over {baseLogits.Windows} windows of {Context} (llama.cpp b8390); calibration {Samples} × {SequenceLength} tokens of the training years");
        foreach (var mix in new[] { "Q4_K_M", "Q3_K_M", "Q2_K" })
        {
            var row = new List<string>();
            void Measure(string label, params string[] args)
            {
                string path = _dir.File($"{mix}-{label.Replace('+', '-')}.gguf");
                Cli(["quantize", sotu, "--type", mix, "-o", path, .. args]);
                var r = LlamaCppKld(path, baseLogits);
                row.Add($"{label} {r.MeanKld:F6} ({r.SameTopTokenRate:P2}, {new FileInfo(path).Length:N0} B, {r.Positions} positions)");
                output.WriteLine($"{mix} {label}: {row[^1]}");
            }
            string[] calib = ["--calib", train, "--nsamples", $"{Samples}", "--seqlen", $"{SequenceLength}", "--seed", "0"];
            Measure("plain");
            Measure("imatrix", "--imatrix", imatrix);
            Measure("rtn", ["--method", "rtn", .. calib]);
            Measure("gptq", ["--method", "gptq", .. calib]);
            Measure("awq+gptq", ["--method", "awq+gptq", .. calib]);
            output.WriteLine($"{mix}: {string.Join("; ", row)}");
        }
    }

    /// <summary>
    /// stories260K's rows (64 and 172 values) fit no 256-block: llama.cpp's fallbacks (Q5_0, F16) decide the types, and
    /// GPTQ and AWQ leave them as the mix has them. Each method's file loads in llama.cpp and in our engine.
    /// </summary>
    [OracleTheory]
    [InlineData("gptq")]
    [InlineData("awq+gptq")]
    [InlineData("rtn")]
    [InlineData("awq")]
    public void StoriesMixWithAMethodFallsBackLikeLlamaQuantize(string method)
    {
        string ours = _dir.File($"stories-{method}.gguf"), theirs = _dir.File("stories-cpp.gguf");
        Cli("quantize", models.StoriesGguf, "--type", "Q4_K_M", "--method", method, "--calib", SharedData.DataFile("tinystories", "valid-sample.txt"),
            "--nsamples", "8", "--seqlen", "128", "-o", ours);
        LlamaCppQuantizer.Quantize(models.StoriesGguf, theirs, LlamaFileType.MostlyQ4_K_M, threads: 2);
        AssertLlamaCppTypes("Q4_K_M", ours, theirs);
        // Both engines read the file alike: the same next token at (nearly) every position of a story.
        using var model = LlamaModel.Load(ours);
        int[] tokens = model.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt"))[..2000], addBos: true)[..96];
        int vocab = model.Parameters.VocabSize;
        var mine = new float[tokens.Length * vocab];
        var theirsLogits = new float[tokens.Length * vocab];
        new SessionLogitsProvider(model, 128).EvaluateWindow(tokens, mine);
        using (var cpp = LlamaCppModel.Load(ours))
        using (var ctx = cpp.CreateContext(128, 128, threads: 2, f32Cache: true))
            new LlamaCppLogitsProvider(ctx).EvaluateWindow(tokens, theirsLogits);
        int same = 0;
        for (int i = 0; i < tokens.Length; i++)
            if (ArgMax(mine.AsSpan(i * vocab, vocab)) == ArgMax(theirsLogits.AsSpan(i * vocab, vocab))) same++;
        output.WriteLine($"{method}: {TypeCounts(ours)}, as llama-quantize; same top token in both engines at {same} of {tokens.Length} positions");
        Assert.True(same >= tokens.Length * 9 / 10, $"{method}: the engines agree on the top token at only {same} of {tokens.Length} positions");
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }

    [OracleFact]
    public void TheClassifierRoundedWithItsCalibrationInputsLowersKldAndChangesNothingElse()
    {
        // Pure Q3_K: the tied embedding is a Q3_K tensor too, the largest single error source of this model's file.
        string sotu = models.SotuFolder, train = SharedData.DataFile("sotu", "train-1790-2009.txt");
        using var baseLogits = SavedLogits.Open(SaveBaseLogits(Windows));
        string calibrated = _dir.File("pq3k-gptq.gguf"), plain = _dir.File("pq3k-gptq-rtn-output.gguf");
        string[] common = ["quantize", sotu, "--type", "Q3_K", "--pure", "--method", "gptq", "--calib", train, "--nsamples", $"{Samples}", "--seqlen", $"{SequenceLength}", "--seed", "0"];
        Cli([.. common, "-o", calibrated]);
        Cli([.. common, "--rtn-output", "-o", plain]);
        using (var a = new GgufFile(calibrated))
        using (var b = new GgufFile(plain))
        {
            AssertOnlyTheTiedEmbeddingDiffers(a, b);
        }
        var kc = LlamaCppKld(calibrated, baseLogits);
        var kp = LlamaCppKld(plain, baseLogits);
        output.WriteLine($"pure Q3_K GPTQ, mean KLD by llama.cpp over {kc.Positions} positions: classifier by GPTQ {kc.MeanKld:F6} (PPL {kc.ModelPerplexity.Perplexity:F4}), rounded to nearest {kp.MeanKld:F6} (PPL {kp.ModelPerplexity.Perplexity:F4})");
        Assert.True(kc.MeanKld < kp.MeanKld * 0.95, $"the calibrated classifier's KLD {kc.MeanKld} is not 5 % below round-to-nearest's {kp.MeanKld}");
    }

    /// <summary>
    /// A pure <c>--format gguf:T</c> with a GPTQ method calibrates the classifier as a mix does (before, it was rounded to
    /// nearest there): with a small calibration set (8 × 128), pure Q3_K's file differs from <c>--rtn-output</c>'s only in
    /// the tied embedding, and llama.cpp measures a lower mean KLD.
    /// </summary>
    [OracleFact]
    public void APureGgufTypeWithGptqCalibratesTheClassifierToo()
    {
        string sotu = models.SotuFolder, train = SharedData.DataFile("sotu", "train-1790-2009.txt");
        using var baseLogits = SavedLogits.Open(SaveBaseLogits(Windows));
        string calibrated = _dir.File("gq3k-gptq.gguf"), plain = _dir.File("gq3k-gptq-rtn-output.gguf");
        string[] common = ["quantize", sotu, "--format", "gguf:Q3_K", "--method", "gptq", "--calib", train, "--nsamples", "8", "--seqlen", "128", "--seed", "0"];
        Cli([.. common, "-o", calibrated]);
        Cli([.. common, "--rtn-output", "-o", plain]);
        using (var a = new GgufFile(calibrated))
        using (var b = new GgufFile(plain))
        {
            Assert.Equal(b.TensorNames, a.TensorNames);
            AssertOnlyTheTiedEmbeddingDiffers(a, b);
        }
        var kc = LlamaCppKld(calibrated, baseLogits);
        var kp = LlamaCppKld(plain, baseLogits);
        output.WriteLine($"gguf:Q3_K GPTQ 8 × 128, mean KLD by llama.cpp over {kc.Positions} positions: classifier by GPTQ {kc.MeanKld:F6} (PPL {kc.ModelPerplexity.Perplexity:F4}, "
            + $"same top {kc.SameTopTokenRate:P2}), rounded to nearest {kp.MeanKld:F6} (PPL {kp.ModelPerplexity.Perplexity:F4}, same top {kp.SameTopTokenRate:P2})");
        // Measured −5.3 % (0.041488 vs 0.043807) with this small calibration set (−11 % at 16 × 256 in the mix test above).
        Assert.True(kc.MeanKld < kp.MeanKld * 0.97, $"the calibrated classifier's KLD {kc.MeanKld} is not 3 % below round-to-nearest's {kp.MeanKld}");
    }

    /// <summary>
    /// Issue 11's bar at the Q2_K file size, on the CI budget (16 × 256 calibration for both sides, 8 windows): GPTQ with the
    /// calibrated classifier into Q3_K, the tied embedding in Q4_K paid for by Q2_K ffn_up in layers 2–6, within 1 % of
    /// llama.cpp's Q2_K file, against the best llama.cpp file (+ imatrix of the same text) of at most that size. The 44-window
    /// 128 × 512 table is in docs/gptq.md.
    /// </summary>
    [OracleFact]
    public void AtTheQ2KSizeTheGptqRecipeReachesSixTenthsOfLlamaCppsBestFile()
    {
        string sotu = models.SotuFolder, train = SharedData.DataFile("sotu", "train-1790-2009.txt");
        using var baseLogits = SavedLogits.Open(SaveBaseLogits(Windows));
        string imatrix = _dir.File("q2size.imatrix.gguf");
        Cli("imatrix", sotu, "-f", train, "--chunks", $"{Samples}", "-c", $"{SequenceLength}", "-o", imatrix);
        var cpp = new List<(string Name, string Path)>();
        foreach (var (name, args) in new (string, string[])[]
        {
            ("Q2_K", ["--type", "Q2_K"]), ("Q2_K_S", ["--type", "Q2_K_S"]), ("pure Q3_K", ["--type", "Q3_K", "--pure"]), ("pure Q2_K", ["--type", "Q2_K", "--pure"]),
            ("Q3_K_S", ["--type", "Q3_K_S"]),
        })
        {
            string path = _dir.File($"cpp-{name.Replace(' ', '-')}.gguf");
            Cli(["quantize", sotu, .. args, "--imatrix", imatrix, "-o", path]);
            cpp.Add((name, path));
        }
        string ours = _dir.File("gptq-q2k-size.gguf");
        Cli("quantize", sotu, "--type", "Q3_K_S", "--method", "gptq", "--calib", train, "--nsamples", $"{Samples}", "--seqlen", $"{SequenceLength}", "--seed", "0",
            "--tensor-type", "blk\\.[2-6]\\.ffn_up=q2_k", "--tensor-type", ".*=q3_k", "--token-embedding-type", "q4_k", "-o", ours);
        long size = new FileInfo(cpp[0].Path).Length, oursSize = new FileInfo(ours).Length;
        Assert.InRange(oursSize, size * 0.99, size * 1.01);
        var table = cpp.Select(c => (c.Name, Bytes: new FileInfo(c.Path).Length, Kld: LlamaCppKld(c.Path, baseLogits).MeanKld)).ToList();
        double best = table.Where(t => t.Bytes <= size * 1.01).Min(t => t.Kld);
        double kld = LlamaCppKld(ours, baseLogits).MeanKld;
        foreach (var t in table.OrderByDescending(t => t.Bytes)) output.WriteLine($"llama.cpp + imatrix {t.Name}: {t.Bytes:N0} B, mean KLD {t.Kld:F6}");
        output.WriteLine($"ours (GPTQ recipe): {oursSize:N0} B, mean KLD {kld:F6} = {kld / best:F3} × the best llama.cpp file of at most {size * 1.01:N0} B ({best:F6})");
        Assert.True(kld <= 0.6 * best, $"mean KLD {kld} is not ≤ 0.6 × llama.cpp's best {best} at the Q2_K size");
    }

    /// <summary>llama.cpp's logits of the F32 sotu model (exact F32 cache) over the first <paramref name="windows"/> windows of the test years, saved for the KLD runs.</summary>
    private string SaveBaseLogits(int windows)
    {
        string basePath = _dir.File("base.qslogits");
        using var m = LlamaModel.Load(models.SotuFolder);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        using var ctx = cpp.CreateContext(Context, Context, threads: 2, f32Cache: true);
        var tok = m.Tokenizer!;
        var data = tok.ToTokenizerData();
        int[] tokens = tok.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")), addBos: data.AddBos);
        SavedLogits.Save(basePath, new LlamaCppLogitsProvider(ctx), tokens, Context, data.AddBos ? tok.BosId : null, windows);
        return basePath;
    }

    /// <summary>Every tensor of <paramref name="a"/> has <paramref name="b"/>'s type, and the bytes of all but the tied token embedding (the classifier) are equal.</summary>
    private static void AssertOnlyTheTiedEmbeddingDiffers(GgufFile a, GgufFile b)
    {
        foreach (var name in b.TensorNames)
        {
            Assert.Equal(b.GetInfo(name).Type, a.GetInfo(name).Type);
            bool same = a.GetRawBytes(name).SequenceEqual(b.GetRawBytes(name));
            Assert.True(same == (name != LlamaGgufNames.TokenEmbedding), $"{name}: bytes {(same ? "equal" : "differ")}");
        }
    }
}
