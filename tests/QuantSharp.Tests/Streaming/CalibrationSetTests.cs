// Calibration sampling: the documented PRNG's exact outputs, deterministic segments, document mode.
using QuantSharp.Quantization.Calibration;

namespace QuantSharp.Tests.Streaming;

public sealed class CalibrationSetTests
{
    // Expected values from an independent Python implementation of SplitMix64 seeding + xoshiro256**.
    [Theory]
    [InlineData(0UL, 0x99ec5f36cb75f2b4UL, 0xbf6e1f784956452aUL, 0x1a5f849d4933e6e0UL)]
    [InlineData(12345UL, 0xbe6a36374160d49bUL, 0x214aaa0637a688c6UL, 0xf69d16de9954d388UL)]
    public void GeneratorMatchesTheDocumentedAlgorithm(ulong seed, ulong a, ulong b, ulong c)
    {
        var r = new CalibrationRandom(seed);
        Assert.Equal(a, r.NextUInt64());
        Assert.Equal(b, r.NextUInt64());
        Assert.Equal(c, r.NextUInt64());
    }

    [Fact]
    public void BoundedDrawsMatchTheDocumentedRejectionSampling()
    {
        var r = new CalibrationRandom(42);
        Assert.Equal(new long[] { 742, 102, 9, 193, 476 }, Enumerable.Range(0, 5).Select(_ => r.NextBelow(1000)).ToArray());
        var s = new CalibrationRandom(7);
        Assert.Equal(new long[] { 1931706, 233362, 799926, 1830880 }, Enumerable.Range(0, 4).Select(_ => s.NextBelow(2129559 - 512 + 1)).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => s.NextBelow(0));
    }

    [Fact]
    public void SegmentsAreSlicesAtTheDrawnStartsAndRepeatForTheSameSeed()
    {
        var tokens = Enumerable.Range(0, 10_000).Select(i => i * 7 % 5003).ToArray();
        var a = CalibrationSet.FromTokens(tokens, 16, 100, seed: 3);
        var b = CalibrationSet.FromTokens(tokens, 16, 100, seed: 3);
        var c = CalibrationSet.FromTokens(tokens, 16, 100, seed: 4);
        var rng = new CalibrationRandom(3);
        for (int i = 0; i < 16; i++)
        {
            int start = (int)rng.NextBelow(tokens.Length - 100 + 1);
            Assert.Equal(tokens.AsSpan(start, 100).ToArray(), a.Sequences[i]);
            Assert.Equal(a.Sequences[i], b.Sequences[i]);
        }
        Assert.Contains(Enumerable.Range(0, 16), i => !a.Sequences[i].SequenceEqual(c.Sequences[i]));
        Assert.Equal(1600, a.TotalTokens);
        Assert.Throws<ArgumentException>(() => CalibrationSet.FromTokens(tokens[..50], 1, 100, 0));
    }

    [Fact]
    public void DocumentsSplitAtEndOfTextMarkersElseAtBlankLines()
    {
        Assert.Equal(["a b", "c"], CalibrationSet.SplitDocuments("a b\n<|endoftext|>\n\nc\n<|endoftext|>"));
        Assert.Equal(["one\ntwo", "three"], CalibrationSet.SplitDocuments("one\ntwo\n \nthree\n\n\n"));
    }

    [Fact]
    [Trait("Category", "RealModel")]
    public void RealTextSegmentsAreTheSameOnEveryRun()
    {
        using var model = QuantSharp.Models.Llama.LlamaModel.Load(SharedData.Model("stories260K", "stories260K.bin"));
        string file = SharedData.DataFile("tinystories", "valid-sample.txt");
        var a = CalibrationSet.RandomSegments(model.Tokenizer!, [file], 8, 64, 11);
        var b = CalibrationSet.RandomSegments(model.Tokenizer!, [file], 8, 64, 11);
        Assert.Equal(8, a.Sequences.Count);
        for (int i = 0; i < 8; i++) Assert.Equal(a.Sequences[i], b.Sequences[i]);
        var docs = CalibrationSet.WholeDocuments(model.Tokenizer!, [file], 5, 128, 1);
        Assert.Equal(5, docs.Sequences.Count);
        Assert.All(docs.Sequences, s => { Assert.Equal(model.Tokenizer!.BosId, s[0]); Assert.True(s.Length <= 128); });
    }
}
