// rotate+METHOD rotates one decoder layer at a time: the same tensors and output bytes as the whole rotated model, every output kind, and far less memory.
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Transforms;

/// <summary>
/// <see cref="LayerwiseRotation"/>, the rotation of <c>quantize --method rotate+…</c>: the embedding, head and final norm
/// rotated up front, each decoder layer by the streaming run's first transform. Checked against the whole-model rotation
/// (<see cref="ModelRotation.Rotate"/>, what the run held in memory before): the same fp32 tensors bit for bit on every
/// rotatable fixture, with and without R2; the same output bytes for every output kind (GGUF mix and pure, hf-gptq with
/// and without --original-activations, hf-awq, mixtures of experts' routers) as quantizing the rotated folder; a peak
/// managed heap and anonymous RSS that do not hold the rotated model; the embedding in an unlinked temporary file; the
/// opened model refused without its transform.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class LayerwiseRotationTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Sotu => SharedData.Model("sotu-llama-30m");
    private static string Train => SharedData.DataFile("sotu", "train-1790-2009.txt");

    public void Dispose() => _dir.Dispose();

    private static ArchitectureSpec Spec(string name) => name switch
    {
        "llama" => ArchitectureSpec.Llama,
        "qwen2" => ArchitectureSpec.Qwen2,
        "qwen3" => ArchitectureSpec.Qwen3,
        "qwen3_moe" => ArchitectureSpec.Qwen3Moe,
        "mixtral" => ArchitectureSpec.Mixtral,
        "phi3" => ArchitectureSpec.Phi3,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("llama", true)]
    [InlineData("llama-norm-ones", true)]
    [InlineData("qwen2", true)]
    [InlineData("qwen2", false)]
    [InlineData("qwen3", true)]
    [InlineData("qwen3_moe", true)]
    [InlineData("mixtral", false)]
    [InlineData("phi3", true)]
    public void EveryTensorIsTheWholeModelRotationsBitForBit(string arch, bool r2)
    {
        var options = new RotationOptions { Seed = 5, HeadRotation = r2 };
        using var source = arch == "llama-norm-ones" ? TiedWithFinalNormOnes() : LlamaModel.Load(ArchitectureFixture.Write(Spec(arch), _dir.File(arch)));
        using var whole = ModelRotation.Rotate(source, options);
        using var layerwise = LayerwiseRotation.Prepare(source, options);
        using var opened = layerwise.Open(source.Tokenizer);
        Assert.Equal(whole.Parameters, layerwise.Parameters);
        Assert.Equal(whole.Notes, layerwise.Notes);
        var names = source.Parameters.Architecture.HfNaming;
        int compared = 0;
        void Same(string name, TensorView t)
        {
            Assert.True(whole.Weights.Contains(name), name);
            Assert.True(whole.Weights.Get(name).Bytes.SequenceEqual(t.Bytes), $"{arch}: tensor '{name}' differs");
            compared++;
        }
        // Model level: up front, in the opened model.
        Same(names.TokenEmbedding, opened.TokenEmbedding);
        Same(names.OutputNorm, opened.Source.Get(names.OutputNorm));
        if (!layerwise.Parameters.TiedEmbeddings) Same(names.Output, opened.Output);
        // Each layer: the run's fp32 copy of the opened model's layer, after the rotation's transform.
        for (int i = 0; i < source.Parameters.NumLayers; i++)
        {
            var t = DecoderLayerTensors.From(opened, i, names);
            layerwise.LayerTransform.Apply(new LayerTransformContext { Layer = i, Parameters = opened.Parameters, Tensors = t });
            foreach (var (name, values, _) in t.Tensors(names))
            {
                Assert.True(whole.Weights.Contains(name), name);
                Assert.True(MemoryMarshal.AsBytes(values.AsSpan()).SequenceEqual(whole.Weights.Get(name).Bytes), $"{arch}: tensor '{name}' differs");
                compared++;
            }
        }
        Assert.Equal(whole.Weights.TensorNames.Count, compared);
        Assert.Equal(arch == "llama-norm-ones", layerwise.Parameters.TiedEmbeddings);
        // Only the model-level tensors are rotated up front: embedding, untied head, final norm.
        long expected = 4L * opened.Parameters.Dim * (opened.Parameters.VocabSize * (layerwise.Parameters.TiedEmbeddings ? 1L : 2L) + 1);
        Assert.Equal(expected, layerwise.MappedBytes);
        output.WriteLine($"{arch} R2 {(r2 ? "on" : "off")}: {compared} tensors equal; up front {layerwise.MappedBytes:N0} B of {whole.Weights.TensorNames.Sum(n => whole.Weights.Get(n).ByteLength):N0} B");
    }

    // The llama fixture (tied) with its final norm set to ones: the rotated embeddings stay tied.
    private LlamaModel TiedWithFinalNormOnes()
    {
        using var file = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama")));
        var names = file.Parameters.Architecture.HfNaming;
        var weights = new InMemoryWeights("llama fixture, final norm ones");
        foreach (var n in file.Source.TensorNames)
        {
            var values = file.Source.Get(n).ToFloat32();
            if (n == names.OutputNorm) Array.Fill(values, 1f);
            weights.Add(n, values, file.Source.Get(n).Shape);
        }
        Assert.True(file.Parameters.TiedEmbeddings);
        return new LlamaModel(weights, file.Parameters, names, file.Tokenizer, "hf-safetensors");
    }

    public static TheoryData<string, string> OutputKinds() => new()
    {
        // model, "method format [options]"
        { "sotu", "gptq type:Q4_K_M" },
        { "sotu", "gptq hf-gptq original-activations" },
        { "llama", "awq+gptq type:Q4_K_M" },
        { "llama", "rtn type:Q4_K_M pure" },
        { "qwen2", "awq hf-awq" },
        { "qwen3", "gptq gguf:Q4_K" },
        { "qwen3_moe", "gptq hf-gptq" },
        { "mixtral", "rtn gguf:Q4_K" },
    };

    /// <summary>
    /// One step (rotate+METHOD, layers rotated as the run reaches them) against two (the whole rotated model written as an
    /// F32 folder of the same name, then METHOD on it: the tensors the run used to hold in memory): identical files.
    /// </summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void ClassifierStatisticsAfterTheRotationAreTheRotatedModels(string arch)
    {
        // rotate+ into a mix calibrates the classifier from the source's RMS-normalised final states rotated by R1 (the
        // layer-rotated model cannot run a whole forward): the same Hessian as the whole rotated model's forward gives.
        using var source = LlamaModel.Load(ArchitectureFixture.Write(Spec(arch), _dir.File(arch)));
        var options = new RotationOptions { Seed = 2 };
        using var whole = ModelRotation.Rotate(source, options);
        using var wholeModel = whole.Open(source.Tokenizer);
        using var layerwise = LayerwiseRotation.Prepare(source, options);
        var calib = QuantSharp.Quantization.Calibration.CalibrationSet.RandomSegments(source.Tokenizer!, [Train], 4, 64, 0);
        var expected = QuantSharp.Quantization.Calibration.ClassifierCalibration.Collect(wholeModel, calib, hessian: true).Hessian();
        var actual = QuantSharp.Quantization.Calibration.ClassifierCalibration.Collect(source, calib, hessian: true, rotateRows: layerwise.RotateResidualRows).Hessian();
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        output.WriteLine($"{arch}: max |ΔH| = {worst:E2} of max |H| {scale:E2}");
        Assert.True(worst <= 1e-4 * scale, $"{arch}: the Hessians differ by {worst} (max |H| {scale})");
        // Without the rotation the source's own statistics are another basis: the check can fail.
        var unrotated = QuantSharp.Quantization.Calibration.ClassifierCalibration.Collect(source, calib, hessian: true).Hessian();
        Assert.True(expected.Zip(unrotated).Max(p => Math.Abs(p.First - p.Second)) > 1e-2 * scale);
    }

    [Theory]
    [MemberData(nameof(OutputKinds))]
    public void RotatePlusMethodWritesTheBytesOfTheMethodOnTheWholeRotatedModel(string model, string run)
    {
        string folder = model == "sotu" ? Sotu : ArchitectureFixture.Write(Spec(model), _dir.File(model));
        var words = run.Split(' ');
        var method = words[0] switch
        {
            "rtn" => QuantizeMethod.Rtn,
            "gptq" => QuantizeMethod.Gptq,
            "awq" => QuantizeMethod.Awq,
            "awq+gptq" => QuantizeMethod.AwqGptq,
            _ => throw new ArgumentException(words[0]),
        };
        string? type = words[1].StartsWith("type:") ? words[1]["type:".Length..] : null;
        string? format = type is null ? words[1] : null;
        bool hf = format is "hf-gptq" or "hf-awq";
        // The rotated folder carries the source's name: the GGUF's general.name is the folder's.
        string rotated = Path.Combine(_dir.File("rotated-" + model), Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)));
        using (var m = LlamaModel.Load(folder))
        using (var whole = ModelRotation.Rotate(m, new RotationOptions { Seed = 3 }))
            HfFloatCheckpointWriter.Write(folder, whole.Weights, DType.F32, whole.Parameters.TiedEmbeddings, rotated, rotation: whole.Record);
        var request = new QuantizeRequest
        {
            Model = rotated, Output = "", Method = method, Format = format, Type = type, Pure = words.Contains("pure"),
            OriginalActivations = words.Contains("original-activations"),
            GroupSize = format == "hf-awq" ? 64 : null,
            Calibration = [Train], Samples = 4, SequenceLength = 64, Seed = 0,
        };
        string twoSteps = _dir.File("two-steps" + (hf ? "" : ".gguf")), oneStep = _dir.File("one-step" + (hf ? "" : ".gguf"));
        // The classifier's statistics come from another forward in the two (the rotated model's, or the source's rotated by
        // R1: equal up to fp32 rounding, ClassifierStatisticsAfterTheRotationAreTheRotatedModels), so it is rounded to
        // nearest in both here (mixes, and GPTQ into gguf:T) for a byte comparison of everything else.
        request = request with { RoundOutputToNearest = type != null || (!hf && method is QuantizeMethod.Gptq or QuantizeMethod.AwqGptq) };
        QuantSharpModel.Quantize(request with { Output = twoSteps });
        QuantSharpModel.Quantize(request with { Model = folder, Output = oneStep, Rotate = true, RotationSeed = 3 });
        string file = hf ? "model.safetensors" : "";
        byte[] a = File.ReadAllBytes(Path.Combine(twoSteps, file)), b = File.ReadAllBytes(Path.Combine(oneStep, file));
        Assert.True(a.AsSpan().SequenceEqual(b), $"{model} {run}: {(hf ? file : "the GGUF")} differs ({a.Length:N0} vs {b.Length:N0} bytes)");
        // config.json comes from the source folder in one step (as it did with the rotation in memory) and from the rotated
        // folder's in two, which lists torch_dtype in another place: the same settings.
        if (hf)
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(twoSteps, "config.json"))),
                JsonNode.Parse(File.ReadAllText(Path.Combine(oneStep, "config.json")))), $"{model} {run}: config.json differs");
        output.WriteLine($"{model} {run}: identical ({new FileInfo(hf ? Path.Combine(oneStep, "model.safetensors") : oneStep).Length:N0} B)");
    }

    /// <summary>
    /// <c>quantize --measure-memory</c> with rotate+gptq stays within plain GPTQ's peak managed heap and anonymous RSS plus
    /// less than half the model in fp32: the whole rotated model (128 MiB for sotu-llama-30m, which the earlier in-memory
    /// rotation held for the run: +111 MiB managed, +114 MiB anonymous) would exceed the bound. Each run is a process of its
    /// own (the CLI), so other tests running in the test host do not count; its figures are taken after the run's forced
    /// blocking collections.
    /// </summary>
    [Fact]
    public void RotateGptqPeakMemoryDoesNotHoldTheRotatedModel()
    {
        (double Managed, double Anonymous, double Model) Run(string method)
        {
            var r = Cli.QuantSharpProcess.Run("quantize", Sotu, "--type", "Q4_K_M", "--method", method, "--calib", Train, "--nsamples", "4",
                "--seqlen", "64", "--seed", "0", "--measure-memory", "-o", _dir.File(method + ".gguf"));
            Assert.True(r.Code == 0, r.Err);
            var m = System.Text.RegularExpressions.Regex.Match(r.Out,
                @"memory: peak managed ([\d.]+) MiB, peak anonymous RSS ([\d.]+) MiB.*whole model in fp32 ([\d.]+) MiB");
            Assert.True(m.Success, r.Out);
            double F(int g) => double.Parse(m.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture);
            output.WriteLine($"{method}: {r.Out.Split('\n').First(l => l.StartsWith("memory:"))}");
            return (F(1), F(2), F(3));
        }
        var gptq = Run("gptq");
        var rotated = Run("rotate+gptq");
        // One rotated fp32 layer (≈ 12 MiB) and a 4 MiB block of the embedding's rotation more, at most; the embedding and
        // head are in a mapped file (page cache, not anonymous).
        Assert.True(rotated.Managed - gptq.Managed < rotated.Model / 2, $"rotate+gptq's peak managed heap exceeds gptq's by {rotated.Managed - gptq.Managed:F1} MiB");
        if (OperatingSystem.IsLinux())
            Assert.True(rotated.Anonymous - gptq.Anonymous < rotated.Model / 2, $"rotate+gptq's peak anonymous RSS exceeds gptq's by {rotated.Anonymous - gptq.Anonymous:F1} MiB");
    }

    [Fact]
    public void TheRotatedEmbeddingLivesInAnUnlinkedTemporaryFileThatIsGoneAfterwards()
    {
        string tmp = _dir.File("tmp");
        Directory.CreateDirectory(tmp);
        using var source = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama")));
        float first;
        using (var rotation = LayerwiseRotation.Prepare(source, new RotationOptions(), temporaryDirectory: tmp))
        using (var opened = rotation.Open(source.Tokenizer))
        {
            // Unlinked as soon as it is mapped (Linux), still readable through the mapping.
            if (OperatingSystem.IsLinux()) Assert.Empty(Directory.GetFileSystemEntries(tmp));
            first = opened.TokenEmbedding.ToFloat32()[0];
            Assert.True(float.IsFinite(first));
        }
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
    }

    /// <summary>
    /// Phi-3 stores q/k/v and gate/up fused: the run rotates each part's fp32 copy and the exporter joins them (the
    /// whole-model rotation joins them in <see cref="DecoderLayerTensors.Tensors"/>, compared bit for bit above). 8-bit RTN of the rotated model
    /// is as close to the original as 8-bit RTN of the original (a wrong rotation would change the logits entirely).
    /// </summary>
    [Fact]
    public void Phi3sFusedLayersAreRotatedInTheRun()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Phi3, _dir.File("phi3"));
        using var original = LlamaModel.Load(folder);
        int[] tokens = [1, 50, 300, 700, 20, 1000, 5, 77, 900, 31, 4000, 12];
        int vocab = original.Parameters.VocabSize;
        var reference = new float[tokens.Length * vocab];
        new InferenceSession(original, 64).Forward(tokens, reference, allLogits: true);
        float range = reference.Max() - reference.Min();
        double Error(bool rotate)
        {
            string o = _dir.File("phi3-rtn8" + (rotate ? "-rot" : ""));
            QuantSharpModel.Quantize(new QuantizeRequest { Model = folder, Output = o, Method = QuantizeMethod.Rtn, Rotate = rotate, Format = "hf-gptq", Bits = 8, GroupSize = 32 });
            using var q = LlamaModel.Load(o);
            var logits = new float[reference.Length];
            new InferenceSession(q, 64).Forward(tokens, logits, allLogits: true);
            float worst = 0;
            for (int i = 0; i < logits.Length; i++) worst = Math.Max(worst, Math.Abs(logits[i] - reference[i]));
            return worst / range;
        }
        double plain = Error(false), rotated = Error(true);
        output.WriteLine($"phi3, 8-bit RTN g32: max |Δlogit| / range {plain:E2} (original), {rotated:E2} (rotate+rtn)");
        Assert.True(rotated <= 2 * plain, $"rotate+rtn's logits differ by {rotated:E2} of the range, 8-bit RTN's alone by {plain:E2}");
    }

    [Fact]
    public void TheOpenedModelIsQuantizedOnlyWithItsLayerTransformFirst()
    {
        using var source = LlamaModel.Load(ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama")));
        using var rotation = LayerwiseRotation.Prepare(source, new RotationOptions());
        using var opened = rotation.Open(source.Tokenizer);
        var rtn = new RtnLinearQuantizer(new GptqOptions());
        // Without the transform its layers would be read unrotated under a rotated embedding: refused by name.
        var none = Assert.Throws<ArgumentException>(() => new LayerStreamingQuantizer(opened, rtn, null));
        Assert.Contains("must be the run's first transform", none.Message);
        // The transform applies only to the model it rotated the embedding of.
        var other = Assert.Throws<NotSupportedException>(() =>
            new LayerStreamingQuantizer(source, rtn, null, new LayerStreamingOptions { Transforms = [rotation.LayerTransform] }));
        Assert.Contains("only to the model its LayerwiseRotation.Open returned", other.Message);
        Assert.Null(LayerwiseRotation.PendingLayerTransform(source));
        // With it, the run goes.
        var runner = new LayerStreamingQuantizer(opened, rtn, null, new LayerStreamingOptions { Transforms = [rotation.LayerTransform] });
        Assert.Equal(source.Parameters.NumLayers, runner.Run().Count());
    }
}
