// Causal self-attention inside each calibration sequence of a batch: the runner's and the layer transforms' attention.
using QuantSharp.Core.Kernels;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The attention between <c>DecoderLayerForward.QueryKeyValue</c> and <c>AttentionOutput</c> for a batch of whole
/// calibration sequences laid end to end: token t attends to the tokens of its own sequence up to itself (and, in a
/// sliding-window layer, only the last W of them), with the inference session's prefill blocks. One job per (up to two
/// query heads of one KV head, block of consecutive tokens of one sequence), each writing its own slice, so the result
/// does not depend on the thread count; <see cref="AttentionOps.CausalBlock(ReadOnlySpan{float}, int, int, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, float, Span{float}, int, Span{float})"/>
/// gives every (token, head) the bits of a one-token, one-head call, so the block size never changes a result.
/// </summary>
public static class CausalAttention
{
    /// <summary>
    /// Tokens per job: each key and value row is read once for the block's queries (key tiles transposed once, value rows
    /// shared), where one job per (head, token) read the sequence's prefix once per query.
    /// </summary>
    private const int Block = 8;

    /// <summary>
    /// attn[t, head] = softmax(q·kᵀ·scale) · v over t's sequence; <paramref name="sequenceStart"/>[t] is the index of the
    /// first token of t's sequence, <paramref name="maxSequence"/> the longest sequence (scratch size).
    /// </summary>
    public static void Run(LlamaHyperParameters hp, int layer, float[] q, float[] k, float[] v, float[] attn, int[] sequenceStart, int n, int maxSequence)
    {
        int hd = hp.HeadDim, kvDim = hp.KvDim, qDim = hp.QDim;
        int group = hp.NumHeads / hp.NumKvHeads, pairs = (group + 1) / 2;
        float scale = hp.AttentionScale;
        int window = hp.WindowOf(layer) ?? int.MaxValue;
        // Blocks never cross a sequence boundary: (first token, tokens) of each.
        var blocks = new List<(int Start, int Tokens)>();
        for (int t = 0; t < n;)
        {
            int end = t + 1;
            while (end < n && sequenceStart[end] == sequenceStart[t]) end++;
            for (int b = t; b < end; b += Block) blocks.Add((b, Math.Min(Block, end - b)));
            t = end;
        }
        int scratch = AttentionOps.CausalBlockScratch(Math.Max(1, maxSequence), Block, 2, hd);
        ScopedParallel.For(0, blocks.Count * hp.NumKvHeads * pairs, () => new float[scratch], (job, buffer) =>
        {
            var (t0, tokens) = blocks[job % blocks.Count];
            int pair = job / blocks.Count, kvh = pair / pairs, h = kvh * group + 2 * (pair % pairs);
            int queries = Math.Min(2, kvh * group + group - h);
            // Token t0 sees its sequence up to itself, with a sliding window only the last W positions; later tokens of
            // the block see one more key each (and, windowed, drop one at the front).
            int first = Math.Max(sequenceStart[t0], t0 + 1 - window), visible = t0 + 1 - first, rows = visible + tokens - 1;
            int qLength = (tokens - 1) * qDim + queries * hd;
            AttentionOps.CausalBlock(new ReadOnlySpan<float>(q, t0 * qDim + h * hd, qLength), qDim, tokens, queries, hd,
                new ReadOnlySpan<float>(k, first * kvDim + kvh * hd, (rows - 1) * kvDim + hd),
                new ReadOnlySpan<float>(v, first * kvDim + kvh * hd, (rows - 1) * kvDim + hd), kvDim, visible, window, scale,
                new Span<float>(attn, t0 * qDim + h * hd, qLength), qDim, buffer);
        });
    }
}
