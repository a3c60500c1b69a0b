// Compares our quantized bytes with ggml's block by block, judging any differing block by its reconstruction error.
using QuantSharp.Core.Tensors;
using QuantSharp.LlamaCpp;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>Running tally of identical and differing blocks for one type and one kind of input.</summary>
public sealed class MatchTally
{
    /// <summary>Blocks compared.</summary>
    public long Blocks { get; private set; }

    /// <summary>Blocks whose bytes differ.</summary>
    public long Differing { get; private set; }

    /// <summary>Differing blocks whose weighted reconstruction error is not within 1e-6 relative of ggml's.</summary>
    public List<string> Failures { get; } = new();

    /// <summary>Fraction of byte-identical blocks.</summary>
    public double ExactRate => Blocks == 0 ? 1 : 1 - (double)Differing / Blocks;

    /// <summary>Adds one comparison.</summary>
    public void Add(long blocks, long differing, IEnumerable<string> failures)
    {
        Blocks += blocks;
        Differing += differing;
        Failures.AddRange(failures);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{ExactRate:P4} exact ({Blocks - Differing}/{Blocks} blocks, {Differing} differ, {Failures.Count} worse than ggml)";
}

/// <summary>Quantizes a row set with ours and with ggml and compares.</summary>
public static class BlockComparison
{
    /// <summary>Relative tolerance on the weighted squared reconstruction error of a differing block.</summary>
    public const double ErrorTolerance = 1e-6;

    /// <summary>
    /// Quantizes <paramref name="set"/> both ways and tallies. A differing block counts as a failure
    /// unless Σ w·(x − x̂)² of ours is within <see cref="ErrorTolerance"/> relative of ggml's
    /// (both decoded with ggml's dequantize_row_*; w = importance, or 1 without).
    /// </summary>
    public static (long Blocks, long Differing, List<string> Failures) Compare(DType type, RowSet set, float[]? importance)
    {
        var format = BlockFormatRegistry.Get(type);
        int rowBytes = set.RowLength / format.BlockSize * format.BlockBytes;
        var ours = new byte[(long)set.Rows * rowBytes];
        BlockQuantizer.QuantizeRows(format, set.Values, set.RowLength, ours, importance);
        var theirs = GgmlQuantOracle.Quantize(GgmlTypes.Id(type), set.Values, set.Rows, set.RowLength, importance);
        if (theirs.Length != ours.Length) throw new InvalidOperationException($"ggml wrote {theirs.Length} bytes, we wrote {ours.Length}");

        int bb = format.BlockBytes, bs = format.BlockSize;
        long blocks = ours.Length / bb, differing = 0;
        var failures = new List<string>();
        for (long b = 0; b < blocks; b++)
        {
            var a = ours.AsSpan((int)(b * bb), bb);
            var g = theirs.AsSpan((int)(b * bb), bb);
            if (a.SequenceEqual(g)) continue;
            differing++;
            var x = set.Values.AsSpan((int)(b * bs), bs);
            int column = (int)(b * bs % set.RowLength);
            var w = importance is null ? default : importance.AsSpan(column, bs);
            double errOurs = WeightedError(type, a, x, w);
            double errGgml = WeightedError(type, g, x, w);
            if (!(Math.Abs(errOurs - errGgml) <= ErrorTolerance * errGgml))
            {
                if (failures.Count < 5)
                    failures.Add($"{set.Name} block {b}: ours {Convert.ToHexString(a)} err {errOurs:G9}, ggml {Convert.ToHexString(g)} err {errGgml:G9}");
                else if (failures.Count == 5) failures.Add("…");
            }
        }
        return (blocks, differing, failures);
    }

    /// <summary>Σ w·(x − x̂)² in double, x̂ decoded by ggml.</summary>
    public static double WeightedError(DType type, ReadOnlySpan<byte> block, ReadOnlySpan<float> x, ReadOnlySpan<float> weights)
    {
        var y = GgmlQuantOracle.Dequantize(GgmlTypes.Name(type), block, x.Length);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double e = (double)x[i] - y[i];
            sum += (weights.IsEmpty ? 1.0 : weights[i]) * e * e;
        }
        return sum;
    }
}
