// quantize --method awq|awq+gptq through the CLI: deterministic bytes, folded norms in both output formats, clear errors.
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Gguf;
using static QuantSharp.Tests.Cli.QuantSharpProcess;

namespace QuantSharp.Tests.Awq;

[Trait("Category", "RealModel")]
public sealed class AwqCliTests
{
    private static readonly string Model = SharedData.Model("sotu-llama-30m");
    private static readonly string Calib = SharedData.DataFile("sotu", "train-1790-2009.txt");

    // A small AWQ run (4 × 64 calibration tokens, 5 grid points) so that the test stays fast.
    private static string[] Small(string method, string format, string output, int threads) =>
        ["quantize", Model, "--method", method, "--format", format, "--calib", Calib, "--nsamples", "4", "--seqlen", "64", "--seed", "0",
            "--awq-grid", "5", "-t", threads.ToString(), "-o", output];

    // Same input, 1 or 2 threads: byte-identical folders; the folder's norms are AWQ's folded ones, not the source's.
    [Fact]
    public void AwqOutputIsByteIdenticalAcrossRunsAndThreadCountsAndCarriesTheFoldedNorms()
    {
        using var dir = new TempDirectory();
        var one = Run(Small("awq", "hf-gptq", dir.File("one"), 1));
        Assert.True(one.Code == 0, one.Err);
        var two = Run(Small("awq", "hf-gptq", dir.File("two"), 2));
        Assert.True(two.Code == 0, two.Err);
        Assert.Contains("layer 0 awq: q/k/v α", one.Err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("one"), "model.safetensors")), File.ReadAllBytes(Path.Combine(dir.File("two"), "model.safetensors")));
        using var source = LlamaModel.Load(Model);
        using var folder = LlamaModel.Load(dir.File("one"));
        // fp16 storage rounds the norms; AWQ's scales move them far more than that.
        Assert.Contains(Enumerable.Range(0, source.Parameters.NumLayers),
            l => MaxRelativeChange(source.Layers[l].AttentionNorm, folder.Layers[l].AttentionNorm) > 0.05);
    }

    // The GGUF exporter writes the run's norms too (F32, so exactly the folded values the run used).
    [Fact]
    public void AwqGgufHoldsTheFoldedNorms()
    {
        using var dir = new TempDirectory();
        var r = Run(Small("awq", "gguf:Q4_0", dir.File("awq.gguf"), 2));
        Assert.True(r.Code == 0, r.Err);
        using var source = LlamaModel.Load(Model);
        using var gguf = LlamaModel.Load(dir.File("awq.gguf"));
        Assert.Contains(Enumerable.Range(0, source.Parameters.NumLayers),
            l => MaxRelativeChange(source.Layers[l].FfnNorm, gguf.Layers[l].FfnNorm) > 0.05);
    }

    private static double MaxRelativeChange(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(y / x - 1)).Max();

    [Fact]
    public void BadAwqOptionCombinationsGiveOneClearError()
    {
        using var dir = new TempDirectory();
        var gridWithoutAwq = Run("quantize", Model, "--method", "gptq", "--format", "hf-gptq", "--calib", Calib, "--awq-grid", "10", "-o", dir.File("x"));
        Assert.Equal(2, gridWithoutAwq.Code);
        Assert.Contains("--awq-grid is an AWQ option", gridWithoutAwq.Err);
        var clipWithoutAwq = Run("quantize", Model, "--method", "rtn", "--format", "hf-gptq", "--no-awq-clip", "-o", dir.File("x"));
        Assert.Equal(2, clipWithoutAwq.Code);
        Assert.Contains("--no-awq-clip is an AWQ option", clipWithoutAwq.Err);
        var noCalib = Run("quantize", Model, "--method", "awq", "--format", "hf-gptq", "-o", dir.File("x"));
        Assert.Equal(2, noCalib.Code);
        Assert.Contains("--calib", noCalib.Err);
        var actOrder = Run("quantize", Model, "--method", "awq+gptq", "--format", "hf-gptq", "--calib", Calib, "--act-order", "-o", dir.File("x"));
        Assert.Equal(2, actOrder.Code);
        Assert.Contains("--act-order is not supported with --method awq+gptq", actOrder.Err);
        var mse = Run("quantize", Model, "--method", "awq", "--format", "hf-gptq", "--calib", Calib, "--mse", "-o", dir.File("x"));
        Assert.Equal(2, mse.Code);
        Assert.Contains("--mse is not supported with --method awq", mse.Err);
        var grid = Run("quantize", Model, "--method", "awq", "--format", "hf-gptq", "--calib", Calib, "--awq-grid", "0", "-o", dir.File("x"));
        Assert.Equal(2, grid.Code);
        Assert.Contains("--awq-grid must be ≥ 1", grid.Err);
        var unknown = Run("quantize", Model, "--method", "awq+awq", "--format", "hf-gptq", "--calib", Calib, "-o", dir.File("x"));
        Assert.NotEqual(0, unknown.Code);
        Assert.Contains("awq+awq", unknown.Err);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
