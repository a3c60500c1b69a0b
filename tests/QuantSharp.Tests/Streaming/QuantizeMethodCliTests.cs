// quantsharp quantize --method on the real model: peak memory of the layer-streaming run, clear errors.
using System.Globalization;
using System.Text.RegularExpressions;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Streaming;

[Trait("Category", "RealModel")]
public sealed class QuantizeMethodCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => QuantSharpProcess.Run(args);

    private static double MiB(string text, string pattern)
    {
        var m = Regex.Match(text, pattern);
        Assert.True(m.Success, $"'{pattern}' not found in: {text}");
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    // The issue's check: the layer-streaming run's peak memory is below half of what holding the
    // whole model in fp32 plus the calibration activations would take (GPTQ's 128 segments of 512
    // tokens here). Peak anonymous RSS is measured in a process of its own; it counts the managed
    // heap, the runtime and native buffers, but not the memory-mapped model file (page cache).
    // Original-activation mode makes one forward per layer (the memory profile is the same as
    // sequential mode's: one layer plus one chunk; activations in the temporary file).
    [Fact]
    public void LayerStreamingPeakMemoryIsBelowHalfOfModelPlusActivations()
    {
        using var dir = new TempDirectory();
        string outDir = dir.File("sotu-rtn4");
        var r = Run("quantize", SharedData.Model("sotu-llama-30m"), "--method", "rtn", "--format", "hf-gptq", "--bits", "4",
            "--calib", SharedData.DataFile("sotu", "train-1790-2009.txt"), "--nsamples", "128", "--seqlen", "512", "--original-activations", "--measure-memory", "-o", outDir);
        Assert.True(r.Code == 0, r.Err);
        double peak = MiB(r.Out, @"peak anonymous RSS ([0-9.]+) MiB");
        double model = MiB(r.Out, @"whole model in fp32 ([0-9.]+) MiB");
        double acts = MiB(r.Out, @"calibration activations ([0-9.]+) MiB");
        Assert.Equal(128.0, acts);
        Assert.True(peak < 0.5 * (model + acts), $"peak anonymous RSS {peak} MiB is not below half of {model} + {acts} MiB");
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
        Assert.Empty(Directory.GetDirectories(dir.Path, "*.tmp-*"));
    }

    // The same check for GPTQ at the issue's 128 × 512 tokens: the Hessian is factorised in its own
    // storage and the previous layer is released before the next is computed (measured 99.6 MiB
    // against the limit of 120 MiB).
    [Fact]
    public void GptqLayerStreamingPeakMemoryIsBelowHalfOfModelPlusActivations()
    {
        using var dir = new TempDirectory();
        string outDir = dir.File("sotu-gptq4");
        var r = Run("quantize", SharedData.Model("sotu-llama-30m"), "--method", "gptq", "--format", "hf-gptq", "--bits", "4", "--group-size", "128",
            "--calib", SharedData.DataFile("sotu", "train-1790-2009.txt"), "--nsamples", "128", "--seqlen", "512", "--measure-memory", "-o", outDir);
        Assert.True(r.Code == 0, r.Err);
        double peak = MiB(r.Out, @"peak anonymous RSS ([0-9.]+) MiB");
        double model = MiB(r.Out, @"whole model in fp32 ([0-9.]+) MiB");
        double acts = MiB(r.Out, @"calibration activations ([0-9.]+) MiB");
        Assert.Equal(128.0, acts);
        Assert.True(peak < 0.5 * (model + acts), $"GPTQ peak anonymous RSS {peak} MiB is not below half of {model} + {acts} MiB");
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
        Assert.Empty(Directory.GetDirectories(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void BadMethodArgumentsGiveOneClearError()
    {
        using var dir = new TempDirectory();
        string model = SharedData.Model("sotu-llama-30m");
        var gptq = Run("quantize", model, "--method", "gptq", "--format", "hf-gptq", "-o", dir.File("x"));
        Assert.Equal(2, gptq.Code);
        Assert.Contains("--calib", gptq.Err);
        var gptqType = Run("quantize", model, "--method", "gptq", "--format", "gguf:IQ4_XS", "-o", dir.File("x.gguf"));
        Assert.Equal(2, gptqType.Code);
        Assert.Contains("GPTQ onto GGUF blocks supports", gptqType.Err);
        var noFormat = Run("quantize", model, "--method", "rtn", "-o", dir.File("x"));
        Assert.Equal(2, noFormat.Code);
        Assert.Contains("--format", noFormat.Err);
        var actOrder = Run("quantize", model, "--method", "rtn", "--format", "hf-gptq", "--act-order", "-o", dir.File("x"));
        Assert.Equal(2, actOrder.Code);
        Assert.Contains("--calib", actOrder.Err);
        var bits = Run("quantize", model, "--method", "rtn", "--format", "hf-gptq", "--bits", "5", "-o", dir.File("x"));
        Assert.Equal(2, bits.Code);
        Assert.Contains("2, 3, 4 or 8", bits.Err);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
