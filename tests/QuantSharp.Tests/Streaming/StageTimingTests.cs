// A method run's stage times (what bench method-stages prints): every stage the method has is reported, and they nest within the wall time.
using System.Diagnostics;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Streaming;

/// <summary>
/// <see cref="QuantizeResult"/> and its <see cref="QuantSharp.Quantization.Streaming.StreamingRunReport"/> split a run into stages:
/// rotation (before the run and per layer), AWQ's search, calibration forwards, statistics, GPTQ's factorisation and
/// sweep, the rest of the quantizer, the memory measurement's collections, and the exporter (the run's time outside the
/// runner). A stage the method has must be measured (non-zero), one it lacks must read zero, and the parts must nest:
/// GPTQ's within the quantizer's, each transform's within the transforms', the runner's phases within its enumeration,
/// the enumeration within the run, and the run's four top-level times within the wall time around the call.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class StageTimingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Train => SharedData.DataFile("sotu", "train-1790-2009.txt");

    public void Dispose() => _dir.Dispose();

    // The 2-layer synthetic Llama keeps the runs to seconds: the test is about the accounting, which every model shares,
    // not about a result's quality (stories260K cannot be rotated: a llama2c file).
    private string Model() => SyntheticHfModel.Write(_dir.File("model"));

    [Fact]
    public void RotateAwqGptqReportsEveryStageAndTheyNestWithinTheWallTime()
    {
        var sw = Stopwatch.StartNew();
        var result = QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = Model(), Output = _dir.File("out"), Method = QuantizeMethod.AwqGptq, Rotate = true, Format = "hf-gptq", GroupSize = 32,
            Calibration = [Train], Samples = 4, SequenceLength = 64, AwqGrid = 4, MeasurePeakMemory = true,
        });
        var wall = sw.Elapsed;
        var r = result.Report!;
        output.WriteLine($"wall {wall.TotalSeconds:F2} s: load {result.LoadTime.TotalSeconds:F2}, rotation {result.RotationTime.TotalSeconds:F2}, run {result.RunTime.TotalSeconds:F2} "
            + $"(runner {r.Elapsed.TotalSeconds:F2}: transforms {r.Transforms.TotalSeconds:F2} = {string.Join(" + ", r.TransformTimes.Select(t => $"{t.Key} {t.Value.TotalSeconds:F2}"))} + setup, "
            + $"quantize {r.Quantization.TotalSeconds:F2} ⊇ factor {r.Factorisation.TotalSeconds:F2} + sweep {r.Sweep.TotalSeconds:F2}, collections {r.MeasurementCollections.TotalSeconds:F2})");

        Assert.True(result.RotationTime > TimeSpan.Zero);
        Assert.Equal(["awq", "rotation"], r.TransformTimes.Keys.Order());
        Assert.All(r.TransformTimes.Values, t => Assert.True(t > TimeSpan.Zero));
        Assert.True(r.Forward > TimeSpan.Zero && r.Statistics > TimeSpan.Zero);
        Assert.True(r.Factorisation > TimeSpan.Zero && r.Sweep > TimeSpan.Zero);
        Assert.True(r.MeasurementCollections > TimeSpan.Zero);
        // hf-gptq has no named mix: no classifier is calibrated.
        Assert.Equal(TimeSpan.Zero, result.ClassifierTime);

        Assert.True(r.Factorisation + r.Sweep <= r.Quantization);
        Assert.True(r.TransformTimes.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b) <= r.Transforms);
        Assert.True(r.Embedding + r.Forward + r.Statistics + r.Transforms + r.Quantization + r.MeasurementCollections <= r.Elapsed);
        Assert.True(r.Elapsed + result.ClassifierTime <= result.RunTime);
        Assert.True(result.LoadTime + result.RotationTime + result.CalibrationTime + result.RunTime <= wall);
    }

    [Fact]
    public void GptqIntoAMixReportsItsClassifierFactorisationAndSweepButNoRotationOrTransform()
    {
        var result = QuantSharpModel.Quantize(new QuantizeRequest
        {
            Model = Model(), Output = _dir.File("out.gguf"), Method = QuantizeMethod.Gptq, Type = "Q4_K_M",
            Calibration = [Train], Samples = 4, SequenceLength = 64,
        });
        // The mix's classifier is calibrated on its own inputs (a whole-model forward) outside the layer-streaming run.
        Assert.True(result.ClassifierTime > TimeSpan.Zero && result.Report!.Elapsed + result.ClassifierTime <= result.RunTime);
        var r = result.Report!;
        Assert.True(r.Factorisation > TimeSpan.Zero && r.Sweep > TimeSpan.Zero && r.Factorisation + r.Sweep <= r.Quantization);
        Assert.Equal(TimeSpan.Zero, result.RotationTime);
        Assert.Empty(r.TransformTimes);
        Assert.Equal(TimeSpan.Zero, r.Transforms);
        // Without --measure-memory the run forces no collection.
        Assert.Equal(TimeSpan.Zero, r.MeasurementCollections);
    }
}
