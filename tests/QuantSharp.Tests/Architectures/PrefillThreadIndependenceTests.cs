// A prefill long enough for the row-wise operations (norms, q/k norms, RoPE, activation, residual adds) to be split over the
// worker pool gives the bits of a one-thread prefill, on every architecture and on the real sotu model.
using QuantSharp.Core.Kernels;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.Kernels;

namespace QuantSharp.Tests.Architectures;

/// <summary>
/// 80 tokens (≥ <see cref="RowChunks.MinRows"/>, so every row-wise op takes its split path on two threads): the logits
/// of every position are bit-identical on one and two threads — SiLU and GELU-tanh activations, q/k norms, sandwich norms,
/// sliding windows and routed experts included, fp32 and fp16 caches.
/// </summary>
[Collection(KernelOptionsCollection.Name)]
[Trait("Category", "RealModel")]
public sealed class PrefillThreadIndependenceTests
{
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("qwen3_moe")]
    [InlineData("phi3-swa16")]
    public void EveryArchitecturesPrefillIsBitIdenticalOnOneAndTwoThreads(string name)
    {
        var spec = ArchitectureReferenceTests.Spec(name);
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(ArchitectureFixture.Write(spec, dir.File(spec.Name)));
        AssertSameBits(model, ArchitectureReferenceTests.Tokens(80), KvCacheType.F32);
    }

    [Theory]
    [InlineData(KvCacheType.F32)]
    [InlineData(KvCacheType.F16)]
    public void SotuPrefillIsBitIdenticalOnOneAndTwoThreads(KvCacheType kv)
    {
        using var model = LlamaModel.Load(SharedData.Model("sotu-llama-30m"));
        AssertSameBits(model, ArchitectureReferenceTests.Tokens(80), kv);
    }

    private static void AssertSameBits(LlamaModel model, int[] tokens, KvCacheType kv)
    {
        float[] Run(int threads)
        {
            using var scope = new KernelScope(KernelOptions.Isa, threads);
            var logits = new float[tokens.Length * model.Parameters.VocabSize];
            new InferenceSession(model, 128, kvCache: kv).Forward(tokens, logits, allLogits: true);
            return logits;
        }
        var one = Run(1);
        var two = Run(2);
        Assert.All(one, x => Assert.True(float.IsFinite(x)));
        int first = Enumerable.Range(0, one.Length).FirstOrDefault(i => BitConverter.SingleToInt32Bits(one[i]) != BitConverter.SingleToInt32Bits(two[i]), -1);
        Assert.True(first < 0, $"logit {first} (token {first / model.Parameters.VocabSize}) differs: {one[Math.Max(first, 0)]} vs {two[Math.Max(first, 0)]}");
    }
}
