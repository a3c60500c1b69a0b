// Causal self-attention inside each calibration sequence of a batch: the runner's and the layer transforms' attention.
using QuantSharp.Core.Kernels;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The attention between <c>DecoderLayerForward.QueryKeyValue</c> and <c>AttentionOutput</c> for a batch of whole
/// calibration sequences laid end to end: token t attends to the tokens of its own sequence up to itself (and, in a
/// sliding-window layer, only the last W of them), with the inference session's inner loops. One job per head and
/// token, each writing its own slice, so the result does not depend on the thread count.
/// </summary>
public static class CausalAttention
{
    /// <summary>
    /// attn[t, head] = softmax(q·kᵀ·scale) · v over t's sequence; <paramref name="sequenceStart"/>[t] is the index of the
    /// first token of t's sequence, <paramref name="maxSequence"/> the longest sequence (scratch size).
    /// </summary>
    public static void Run(LlamaHyperParameters hp, int layer, float[] q, float[] k, float[] v, float[] attn, int[] sequenceStart, int n, int maxSequence)
    {
        int heads = hp.NumHeads, hd = hp.HeadDim, kvDim = hp.KvDim, qDim = hp.QDim;
        int group = heads / hp.NumKvHeads;
        float scale = hp.AttentionScale;
        int window = hp.WindowOf(layer) ?? 0;
        ScopedParallel.For(0, heads * n, () => new float[maxSequence], (job, scores) =>
        {
            int h = job / n, t = job % n;
            int kvh = h / group;
            // Causal inside the sequence, and with a sliding window only the last W positions (itself included).
            int start = window > 0 ? Math.Max(sequenceStart[t], t - window + 1) : sequenceStart[t];
            int len = t - start + 1;
            var s = scores.AsSpan(0, len);
            var keys = new ReadOnlySpan<float>(k, start * kvDim + kvh * hd, (len - 1) * kvDim + hd);
            AttentionOps.Scores(new ReadOnlySpan<float>(q, t * qDim + h * hd, hd), keys, kvDim, scale, s);
            VectorOps.Softmax(s);
            var values = new ReadOnlySpan<float>(v, start * kvDim + kvh * hd, (len - 1) * kvDim + hd);
            AttentionOps.WeightedSum(s, values, kvDim, new Span<float>(attn, t * qDim + h * hd, hd));
        });
    }
}
