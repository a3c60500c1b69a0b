// Runs calibration text through our forward pass in llama-imatrix's chunks and collects the importance matrix.
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// llama-imatrix b8390's procedure (tools/imatrix/imatrix.cpp, compute_imatrix) on our engine: the
/// whole text is tokenized once (BOS first when the vocabulary adds one; one trailing newline
/// dropped, as its -f option does), at least two chunks of <see cref="ImatrixOptions.ContextLength"/>
/// tokens are required, and each of the first min(chunks, tokens / n_ctx) chunks is evaluated from
/// an empty KV cache with its first token replaced by BOS (when the vocabulary adds one), every
/// weight multiplication's input feeding <see cref="ActivationSquareSums"/>. A mixture of experts gets
/// llama-imatrix's per-expert entries for its stacked expert tensors (sums and a count per expert, from the
/// tokens routed to each) and a dense entry for the router.
/// </summary>
public static class ImatrixCalibration
{
    /// <summary>
    /// Tokens of <paramref name="text"/> as llama-imatrix gets them from -f FILE: one trailing "\n"
    /// removed, BOS prepended when the tokenizer's metadata adds one. Also returns that BOS id (or null).
    /// </summary>
    public static (int[] Tokens, int? Bos) Tokenize(LlamaModel model, string text)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(text);
        var tok = model.Tokenizer ?? throw new InvalidDataException($"{model.Origin}: the model has no tokenizer; pass one");
        if (text.EndsWith('\n')) text = text[..^1];
        bool addBos = tok.ToTokenizerData().AddBos && tok.BosId != null;
        return (tok.Encode(text, addBos: addBos), addBos ? tok.BosId : null);
    }

    /// <summary>Number of chunks llama-imatrix evaluates for <paramref name="tokenCount"/> tokens; throws when there are fewer than 2 × n_ctx.</summary>
    public static int ChunkCount(int tokenCount, ImatrixOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int n = options.ContextLength;
        if (tokenCount < 2L * n)
            throw new ArgumentException($"the calibration text has {tokenCount} tokens; llama-imatrix needs at least 2 × n_ctx = {2L * n} for a context of {n}");
        int max = tokenCount / n;
        return options.MaxChunks is { } c ? Math.Min(c, max) : max;
    }

    /// <summary>
    /// Collects the importance matrix of <paramref name="model"/> over <paramref name="tokens"/>
    /// (from <see cref="Tokenize"/>). Results do not depend on the thread count.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="tokens">The whole tokenized text.</param>
    /// <param name="bos">BOS id written over each chunk's first token, or null.</param>
    /// <param name="options">Chunking and selection.</param>
    /// <param name="progress">Reports (chunks done, chunks total).</param>
    /// <param name="cancellationToken">Checked between chunks.</param>
    public static ImportanceMatrix Collect(LlamaModel model, ReadOnlySpan<int> tokens, int? bos, ImatrixOptions options,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        int n = options.ContextLength;
        int chunks = ChunkCount(tokens.Length, options);
        var stats = new ActivationSquareSums(options.ProcessOutput);
        var session = new InferenceSession(model, n, maxBatch: n) { MatMulObserver = stats };
        int vocab = model.Parameters.VocabSize;
        // The classifier only sees every row when all logits are computed; without --process-output one row is enough.
        var logits = new float[(options.ProcessOutput ? n : 1) * vocab];
        var chunk = new int[n];
        for (int c = 0; c < chunks; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            tokens.Slice(c * n, n).CopyTo(chunk);
            if (bos is { } b) chunk[0] = b;
            session.Reset();
            session.Forward(chunk, logits, allLogits: options.ProcessOutput);
            progress?.Report((c + 1, chunks));
        }
        return stats.ToImportanceMatrix(n, options.Datasets);
    }
}
