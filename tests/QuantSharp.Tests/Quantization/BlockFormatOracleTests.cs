// Our legacy and IQ4 block quantizers against ggml's own (b8390), byte for byte, on synthetic and real weights.
using QuantSharp.Core.Tensors;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// For each type: quantize the same rows with ours and with ggml_quantize_chunk (what
/// llama-quantize runs per tensor), without and with importance vectors, and require ≥ 99.9 %
/// byte-identical blocks, every other block no worse than ggml's in weighted reconstruction error.
/// Exact-match rates are written to the test output.
/// </summary>
[Trait("Category", "Oracle")]
public sealed class BlockFormatOracleTests(ITestOutputHelper output)
{
    private const double RequiredExactRate = 0.999;

    [OracleFact] public void Q4_0_matches_ggml() => CheckType(DType.Q4_0);
    [OracleFact] public void Q4_1_matches_ggml() => CheckType(DType.Q4_1);
    [OracleFact] public void Q5_0_matches_ggml() => CheckType(DType.Q5_0);
    [OracleFact] public void Q5_1_matches_ggml() => CheckType(DType.Q5_1);
    [OracleFact] public void Q8_0_matches_ggml() => CheckType(DType.Q8_0);
    [OracleFact] public void IQ4_NL_matches_ggml() => CheckType(DType.IQ4_NL);
    [OracleFact] public void IQ4_XS_matches_ggml() => CheckType(DType.IQ4_XS);
    [OracleFact] public void MXFP4_matches_ggml() => CheckType(DType.MXFP4);

    private void CheckType(DType type)
    {
        int blockSize = DTypeInfo.BlockSize(type);
        var tallies = new Dictionary<string, MatchTally>();
        void Run(string label, RowSet set, float[]? importance)
        {
            if (!tallies.TryGetValue(label, out var t)) tallies[label] = t = new MatchTally();
            var (blocks, differing, failures) = BlockComparison.Compare(type, set, importance);
            t.Add(blocks, differing, failures);
            if (differing > 0) output.WriteLine($"  {type} {label} {set.Name}: {differing}/{blocks} blocks differ");
        }

        int seed = 0;
        foreach (var set in BlockTestData.Synthetic())
        {
            Run("random, no imatrix", set, null);
            Run("random, imatrix", set, BlockTestData.RandomImportance(set.RowLength, ++seed));
            Run("random, imatrix", set, BlockTestData.ActivationImportance(set.RowLength, ++seed));
            // Dead columns: a whole block of zero importance.
            var withDead = BlockTestData.ActivationImportance(set.RowLength, ++seed);
            Array.Clear(withDead, 64, 32);
            Run("random, imatrix", set, withDead);
        }
        foreach (var set in BlockTestData.Real(blockSize))
        {
            Run("real, no imatrix", set, null);
            Run("real, imatrix", set, BlockTestData.RandomImportance(set.RowLength, ++seed));
            Run("real, imatrix", set, BlockTestData.ActivationImportance(set.RowLength, ++seed));
        }

        foreach (var (label, t) in tallies) output.WriteLine($"{type} {label}: {t}");
        foreach (var (label, t) in tallies)
        {
            Assert.True(t.Failures.Count == 0, $"{type} {label}: differing blocks worse than ggml:\n{string.Join("\n", t.Failures)}");
            Assert.True(t.ExactRate >= RequiredExactRate, $"{type} {label}: {t}");
        }
    }
}
