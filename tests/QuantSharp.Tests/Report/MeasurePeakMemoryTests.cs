// Forced collections and /proc/self/clear_refs writes happen only in a run that asks to measure its memory.
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Tests.Report;

[Trait("Category", "RealModel")]
public sealed class MeasurePeakMemoryTests
{
    // The runner counts each forced collection and peak-counter restart where it performs them (the same helper that
    // calls GC.Collect and writes clear_refs), so zero counts mean neither call was made.
    [Fact]
    public void OnlyARunThatMeasuresMemoryForcesCollectionsAndRestartsThePeakCounter()
    {
        using var model = LlamaModel.Load(SharedData.Model("stories260K", "stories260K.bin"));
        var rng = new Random(3);
        var calib = new CalibrationSet([.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 32).Select(_ => rng.Next(model.Parameters.VocabSize)).ToArray())], "random");
        StreamingRunReport Run(bool measure)
        {
            var runner = new LayerStreamingQuantizer(model, new GptqLinearQuantizer(new GptqOptions { Bits = 4, GroupSize = 32 }), calib,
                new LayerStreamingOptions { MeasurePeakMemory = measure });
            int layers = runner.Run().Count();
            Assert.Equal(model.Parameters.NumLayers, layers);
            return runner.Report;
        }

        var plain = Run(measure: false);
        Assert.False(plain.MemoryMeasured);
        Assert.Equal(0, plain.ForcedCollections);
        Assert.Equal(0, plain.KernelPeakResets);
        Assert.Equal(0, plain.Memory.PeakManagedBytes);
        Assert.Equal(0, plain.BaselineAnonymousBytes);

        var measured = Run(measure: true);
        Assert.True(measured.MemoryMeasured);
        Assert.Equal(1, measured.KernelPeakResets);
        // At least one per quantized linear (7 per layer), one per calibration pass and one per layer.
        Assert.True(measured.ForcedCollections > 8 * model.Parameters.NumLayers, $"{measured.ForcedCollections} forced collections");
        Assert.True(measured.Memory.PeakManagedBytes > 0);
        if (OperatingSystem.IsLinux()) Assert.True(measured.Memory.PeakAnonymousBytes > 0);
    }
}
