// The issue's AWQ quality check on a real model: RTN, GPTQ, AWQ and AWQ+GPTQ into HF 4-bit g128 folders, sotu-llama-30m.
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.Gptq;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Awq;

/// <summary>
/// sotu-llama-30m quantized by <c>quantsharp quantize --method rtn|gptq|awq|awq+gptq --format hf-gptq --bits 4
/// --group-size 128 --asym</c> (AutoAWQ's zero-point grid), calibrated on the training years (16 × 128 tokens: AWQ's
/// search runs the layer's modules 20 times per group, so the calibration is kept small for CI), scored GPTQ-style on
/// the first <see cref="Windows"/> windows of the test years by our engine. docs/awq.md has the table and commands.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class AwqPerplexityGapTests(ITestOutputHelper output)
{
    // Half of the GPTQ test's windows: five models are scored here and the margins between methods are wide
    // (over 64 windows AWQ closes 26 %, GPTQ 54 %, AWQ+GPTQ 69 % of the gap; over these 32: 14 %, 64 %, 68 %).
    private const int Windows = SotuPerplexityGap.Windows / 2;

    private static string Quantize(TempDirectory dir, string method)
        => SotuPerplexityGap.Quantize(dir, method.Replace('+', '-'), method, "--bits", "4", "--group-size", "128", "--asym", "--nsamples", "16", "--seqlen", "128");

    [Fact]
    public void AwqImprovesOnRtnAndAwqPlusGptqClosesMoreOfTheGapThanGptq()
    {
        using var dir = new TempDirectory();
        int[] tokens = SotuPerplexityGap.TestTokens();
        double baseline = SotuPerplexityGap.Perplexity(SotuPerplexityGap.Model, tokens, Windows);
        var ppl = new Dictionary<string, double>();
        foreach (var method in new[] { "rtn", "gptq", "awq", "awq+gptq" })
            ppl[method] = SotuPerplexityGap.Perplexity(Quantize(dir, method), tokens, Windows);
        double gap = ppl["rtn"] - baseline;
        double Closed(string method) => (ppl["rtn"] - ppl[method]) / gap;
        output.WriteLine($"GPTQ-style PPL, first {Windows} windows: bf16 {baseline:F4}; RTN {ppl["rtn"]:F4}; " +
            string.Join("; ", new[] { "gptq", "awq", "awq+gptq" }.Select(m => $"{m} {ppl[m]:F4} ({Closed(m):P1} of the gap closed)")));
        Assert.True(gap > 0, $"4-bit RTN {ppl["rtn"]} is not worse than bf16 {baseline}");
        Assert.True(Closed("awq") > 0, $"AWQ {ppl["awq"]} does not improve on RTN {ppl["rtn"]}");
        // The issue asks that AWQ close at least as much of the gap as GPTQ. It does not on this model (measured: AWQ 26 %,
        // GPTQ 54 % with --asym; with the symmetric grid AWQ is even slightly worse than RTN, see docs/awq.md): its
        // activations are even across channels (α = 0.5 scales move the norms by at most 1.4×), so there are few salient
        // channels for AWQ to protect, while GPTQ's error feedback works regardless. What holds is asserted: AWQ improves
        // on RTN but less than GPTQ, and AWQ+GPTQ closes more than GPTQ alone.
        Assert.True(Closed("awq") < Closed("gptq"), $"AWQ now closes {Closed("awq"):P1} vs GPTQ's {Closed("gptq"):P1}: update this test and docs/awq.md (the issue's claim holds)");
        Assert.True(Closed("awq+gptq") > Closed("gptq"), $"AWQ+GPTQ closes {Closed("awq+gptq"):P1} of the gap, not more than GPTQ's {Closed("gptq"):P1}");
    }
}
