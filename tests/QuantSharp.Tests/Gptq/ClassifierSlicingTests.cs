// The classifier is rounded by GPTQ in slices no larger than a decoder linear (the same bytes as one slice of all rows), inside the run's memory measurement.
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Gptq;

/// <summary>
/// <see cref="ClassifierCalibration.Encode"/> rounds the classifier by GPTQ in slices of
/// <see cref="ClassifierCalibration.SliceRows"/> rows — on sotu-llama-30m 1536 of its 8192 rows, the weights of its
/// largest linear (before: all 8192 at once, 104 MiB of GPTQ working copies, the run's peak) — and gets exactly the bytes
/// of one GPTQ call over every row. A run that measures its memory samples the classifier's stage too: one forced
/// collection after its forward and one per slice, on top of the layers'.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class ClassifierSlicingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Train => SharedData.DataFile("sotu", "train-1790-2009.txt");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SlicedGptqOfTheSotuClassifierIsTheOneSliceBytes()
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        Assert.Equal(1536, ClassifierCalibration.SliceRows(model));
        var calib = CalibrationSet.RandomSegments(model.Tokenizer!, [Train], 4, 64, 0);
        var stats = ClassifierCalibration.Collect(model, calib, hessian: true);
        int samples = 0;
        var sliced = ClassifierCalibration.Encode(model, GgmlType.Q6_K, stats, MixRounding.Gptq, sampleMemory: () => samples++)!;
        Assert.Equal(6, samples);
        int rows = (int)model.Output.Rows, cols = (int)model.Output.Columns;
        var weights = model.Output.ToFloat32();
        var whole = GptqBlockQuantizer.QuantizeInPlace(weights, rows, cols, stats.Hessian(), new GptqBlockOptions { Type = Core.Tensors.DType.Q6_K, Damping = 0.01 });
        Assert.True(whole.Data.AsSpan().SequenceEqual(sliced), "slicing the classifier changed GPTQ's bytes");
        output.WriteLine($"{rows} rows in slices of {ClassifierCalibration.SliceRows(model)}: {sliced.Length:N0} bytes, identical");
    }

    [Fact]
    public void AMeasuredRunSamplesTheClassifierStage()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama"));
        var request = new QuantizeRequest
        {
            Model = folder, Output = _dir.File("a.gguf"), Type = "Q4_K_M", Method = QuantizeMethod.Gptq,
            Calibration = [Train], Samples = 4, SequenceLength = 64, Seed = 0, MeasurePeakMemory = true,
        };
        var calibrated = QuantSharpModel.Quantize(request).Report!;
        var nearest = QuantSharpModel.Quantize(request with { Output = _dir.File("b.gguf"), RoundOutputToNearest = true }).Report!;
        using var model = LlamaModel.Load(folder);
        int slices = (int)((model.Output.Rows + ClassifierCalibration.SliceRows(model) - 1) / ClassifierCalibration.SliceRows(model));
        output.WriteLine($"forced collections: {calibrated.ForcedCollections} with the calibrated classifier, {nearest.ForcedCollections} without; {slices} slices");
        Assert.Equal(1, calibrated.KernelPeakResets);
        Assert.Equal(nearest.ForcedCollections + 1 + slices, calibrated.ForcedCollections);
    }
}
