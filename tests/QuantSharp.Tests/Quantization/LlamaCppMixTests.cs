// llama.cpp's per-tensor type rules on model shapes our real models do not have (GQA 4, 70B, 8 experts) and its names.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Tests.Quantization;

public sealed class LlamaCppMixTests
{
    private static List<MixTensor> LlamaTensors(int layers, long dim, long ffn, bool tied)
    {
        var list = new List<MixTensor> { new("token_embd.weight", dim) };
        if (!tied) list.Add(new("output.weight", dim));
        for (int i = 0; i < layers; i++)
        {
            foreach (var n in new[] { "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up" })
                list.Add(new($"blk.{i}.{n}.weight", dim));
            list.Add(new($"blk.{i}.ffn_down.weight", ffn));
        }
        return list;
    }

    [Fact]
    public void Q4KMediumGivesAttnVAndFfnDownQ6KInTheUseMoreBitsLayersCountedByBlockNumber()
    {
        // 16 layers: the first and last two, and every third from layer 4 (4, 7, 10, 13). Layer 10 sorts before 2 by
        // name; llama.cpp counts in block order, so it is the eleventh attn_v, not the third.
        var tensors = LlamaTensors(16, 4096, 11008, tied: false);
        tensors.Reverse();
        var plan = LlamaCppMix.Plan(LlamaCppFileType.Q4_K_M, new MixModelShape(16, 32, 32), tensors, hasImatrix: false);
        int[] more = [0, 1, 4, 7, 10, 13, 14, 15];
        for (int i = 0; i < 16; i++)
        {
            var expected = more.Contains(i) ? GgmlType.Q6_K : GgmlType.Q4_K;
            Assert.Equal(expected, plan[$"blk.{i}.attn_v.weight"]);
            Assert.Equal(expected, plan[$"blk.{i}.ffn_down.weight"]);
            Assert.Equal(GgmlType.Q4_K, plan[$"blk.{i}.attn_q.weight"]);
        }
        Assert.Equal(GgmlType.Q6_K, plan["output.weight"]);
        Assert.Equal(GgmlType.Q4_K, plan["token_embd.weight"]); // untied: the default type
    }

    [Fact]
    public void GroupedQueryAttentionOfFourRaisesAttnV()
    {
        var shape = new MixModelShape(32, 32, 8); // Llama-3-8B
        var tensors = LlamaTensors(32, 4096, 14336, tied: false);
        Assert.Equal(GgmlType.Q4_K, LlamaCppMix.Plan(LlamaCppFileType.Q2_K, shape, tensors, false)["blk.5.attn_v.weight"]);
        Assert.Equal(GgmlType.Q3_K, LlamaCppMix.Plan(LlamaCppFileType.Q2_K, shape with { NumKvHeads = 32 }, tensors, false)["blk.5.attn_v.weight"]);
        Assert.Equal(GgmlType.Q4_K, LlamaCppMix.Plan(LlamaCppFileType.Q2_K_S, shape, tensors, true)["blk.5.attn_v.weight"]);
        Assert.Equal(GgmlType.Q5_K, LlamaCppMix.Plan(LlamaCppFileType.IQ4_XS, shape, tensors, false)["blk.5.attn_v.weight"]);
        Assert.Equal(GgmlType.IQ4_XS, LlamaCppMix.Plan(LlamaCppFileType.IQ4_XS, shape with { NumKvHeads = 16 }, tensors, false)["blk.5.attn_v.weight"]);
    }

    [Fact]
    public void SeventyBAndEightExpertRules()
    {
        var tensors = LlamaTensors(80, 8192, 28672, tied: false);
        var seventy = LlamaCppMix.Plan(LlamaCppFileType.Q3_K_S, new MixModelShape(80, 64, 8), tensors, false);
        Assert.Equal(GgmlType.Q5_K, seventy["blk.40.attn_v.weight"]);
        Assert.Equal(GgmlType.Q3_K, seventy["blk.40.attn_q.weight"]);
        var sixtyFive = LlamaCppMix.Plan(LlamaCppFileType.Q3_K_S, new MixModelShape(80, 64, 64), tensors, false);
        Assert.Equal(GgmlType.Q3_K, sixtyFive["blk.40.attn_v.weight"]);

        var moe = LlamaCppMix.Plan(LlamaCppFileType.Q4_K_M, new MixModelShape(32, 32, 8, NumExperts: 8), LlamaTensors(32, 4096, 14336, false), false);
        Assert.Equal(GgmlType.Q8_0, moe["blk.3.attn_v.weight"]);
        Assert.Equal(GgmlType.Q8_0, moe["blk.3.attn_k.weight"]);
        Assert.Equal(GgmlType.Q5_K, moe["blk.3.attn_output.weight"]);
    }

    [Fact]
    public void ImatrixChangesTheFirstFfnDownLayers()
    {
        var shape = new MixModelShape(16, 32, 32);
        var tensors = LlamaTensors(16, 4096, 11008, tied: true);
        Assert.Equal(GgmlType.Q4_0, LlamaCppMix.Plan(LlamaCppFileType.Q4_0, shape, tensors, false)["blk.1.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q4_1, LlamaCppMix.Plan(LlamaCppFileType.Q4_0, shape, tensors, true)["blk.1.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q4_0, LlamaCppMix.Plan(LlamaCppFileType.Q4_0, shape, tensors, true)["blk.2.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q5_1, LlamaCppMix.Plan(LlamaCppFileType.Q5_0, shape, tensors, true)["blk.0.ffn_down.weight"]);
        Assert.Equal(GgmlType.Q5_K, LlamaCppMix.Plan(LlamaCppFileType.IQ4_NL, shape, tensors, false)["blk.0.ffn_down.weight"]);
        Assert.Equal(GgmlType.IQ4_NL, LlamaCppMix.Plan(LlamaCppFileType.IQ4_NL, shape, tensors, true)["blk.0.ffn_down.weight"]);
        // Tied embeddings: the token embedding is the classifier too and gets its Q6_K.
        Assert.Equal(GgmlType.Q6_K, LlamaCppMix.Plan(LlamaCppFileType.Q4_0, shape, tensors, false)["token_embd.weight"]);
        Assert.Equal(GgmlType.Q8_0, LlamaCppMix.Plan(LlamaCppFileType.Q8_0, shape, tensors, false)["token_embd.weight"]);
    }

    [Fact]
    public void PureKeepsTheDefaultTypeButStillFallsBack()
    {
        var tensors = new List<MixTensor> { new("token_embd.weight", 512), new("blk.0.attn_v.weight", 512), new("blk.0.ffn_down.weight", 96), new("blk.0.ffn_up.weight", 100) };
        var plan = LlamaCppMix.Plan(LlamaCppFileType.Q4_K_M, new MixModelShape(1, 8, 8), tensors, false, pure: true);
        Assert.Equal(GgmlType.Q4_K, plan["token_embd.weight"]);
        Assert.Equal(GgmlType.Q4_K, plan["blk.0.attn_v.weight"]);
        Assert.Equal(GgmlType.Q5_0, plan["blk.0.ffn_down.weight"]);
        Assert.Equal(GgmlType.F16, plan["blk.0.ffn_up.weight"]);
    }

    [Theory]
    [InlineData(GgmlType.Q2_K, 64, GgmlType.Q4_0)]
    [InlineData(GgmlType.Q3_K, 96, GgmlType.Q4_0)]
    [InlineData(GgmlType.IQ4_XS, 64, GgmlType.IQ4_NL)]
    [InlineData(GgmlType.Q4_K, 64, GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_K, 64, GgmlType.Q5_1)]
    [InlineData(GgmlType.Q6_K, 64, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q6_K, 172, GgmlType.F16)]
    [InlineData(GgmlType.Q6_K, 512, GgmlType.Q6_K)]
    [InlineData(GgmlType.Q8_0, 64, GgmlType.Q8_0)]
    public void FallbackTable(GgmlType type, long columns, GgmlType expected) =>
        Assert.Equal(expected, LlamaCppMix.Fallback(type, columns, "t"));

    [Fact]
    public void LegacyTypesHaveNoFallback()
    {
        var ex = Assert.Throws<NotSupportedException>(() => LlamaCppMix.Fallback(GgmlType.Q8_0, 172, "blk.0.ffn_down.weight"));
        Assert.Contains("blk.0.ffn_down.weight", ex.Message);
        Assert.Contains("172", ex.Message);
    }

    [Theory]
    [InlineData("Q4_K_M", LlamaCppFileType.Q4_K_M)]
    [InlineData("q4_k_m", LlamaCppFileType.Q4_K_M)]
    [InlineData("Q4_K", LlamaCppFileType.Q4_K_M)]
    [InlineData("Q5_K", LlamaCppFileType.Q5_K_M)]
    [InlineData("Q3_K", LlamaCppFileType.Q3_K_M)]
    [InlineData("15", LlamaCppFileType.Q4_K_M)]
    [InlineData("iq4_xs", LlamaCppFileType.IQ4_XS)]
    [InlineData("Q2_K_S", LlamaCppFileType.Q2_K_S)]
    public void NamesAsLlamaQuantizeAcceptsThem(string name, LlamaCppFileType expected) =>
        Assert.Equal(expected, LlamaCppFileTypeNames.Parse(name));

    [Fact]
    public void UnknownNameListsTheValidOnes()
    {
        var ex = Assert.Throws<ArgumentException>(() => LlamaCppFileTypeNames.Parse("Q9_K"));
        Assert.Contains("Q9_K", ex.Message);
        Assert.Contains("Q4_K_M", ex.Message);
        Assert.Contains("IQ4_XS", ex.Message);
        Assert.Null(LlamaCppFileTypeNames.TryParse("IQ2_XXS")); // a llama.cpp type whose block format we do not have
    }

    [Fact]
    public void EveryFileTypeHasADefaultBlockTypeWeCanWrite()
    {
        foreach (var t in LlamaCppFileTypeNames.All)
            Assert.NotNull(GgmlTypeInfo.FromDType(LlamaCppFileTypeNames.DefaultType(t)));
        Assert.Equal(DType.Q4_K, LlamaCppFileTypeNames.DefaultType(LlamaCppFileType.Q4_K_M));
        Assert.Equal(17, LlamaCppFileTypeNames.All.Count);
    }
}
