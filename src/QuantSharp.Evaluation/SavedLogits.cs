// A file of a base model's log-probabilities on scored positions, for KL-divergence of another model later.
using System.Buffers.Binary;
using System.Text;
using QuantSharp.Core.IO;

namespace QuantSharp.Evaluation;

/// <summary>
/// Base-model log-probabilities saved per scored position, each row stored as 16-bit codes between
/// the row's minimum and maximum (as llama.cpp's --kl-divergence-base does: ~3e-4 nats resolution
/// over a 20-nat range, a quarter of fp32's size). The windows' tokens are stored too, so the
/// compared model sees exactly the same input.
/// Layout: "QSLOGIT1", u32 vocab, u32 n_ctx, u32 first scored index, u32 windows,
/// i32 tokens[windows·n_ctx], then per window and scored position: f32 min, f32 step, u16[vocab].
/// </summary>
public sealed class SavedLogits : IDisposable
{
    private static ReadOnlySpan<byte> Magic => "QSLOGIT1"u8;
    private readonly FileStream _stream;
    private readonly byte[] _rowBuffer;

    private SavedLogits(FileStream stream, int vocab, int contextLength, int firstScored, int windows, int[] tokens)
    {
        _stream = stream;
        VocabSize = vocab;
        ContextLength = contextLength;
        FirstScored = firstScored;
        Windows = windows;
        Tokens = tokens;
        _rowBuffer = new byte[8 + 2 * vocab];
    }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }
    /// <summary>Window length.</summary>
    public int ContextLength { get; }
    /// <summary>Index of the first scored position in each window.</summary>
    public int FirstScored { get; }
    /// <summary>Number of windows.</summary>
    public int Windows { get; }
    /// <summary>Window tokens [windows·n_ctx], as evaluated.</summary>
    public int[] Tokens { get; }
    /// <summary>Scored positions per window (predictions from FirstScored to n_ctx−2).</summary>
    public int ScoredPerWindow => ContextLength - 1 - FirstScored;

    private long RowBytes => 8 + 2L * VocabSize;
    private long DataStart => 24 + 4L * Tokens.Length;

    /// <summary>Opens a saved file, validating its header and size.</summary>
    public static SavedLogits Open(string path)
    {
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            Span<byte> h = stackalloc byte[24];
            if (fs.Read(h) != 24 || !h[..8].SequenceEqual(Magic))
                throw new InvalidDataException($"{path}: not a QuantSharp saved-logits file (bad magic)");
            int vocab = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
            int ctx = BinaryPrimitives.ReadInt32LittleEndian(h[12..]);
            int first = BinaryPrimitives.ReadInt32LittleEndian(h[16..]);
            int windows = BinaryPrimitives.ReadInt32LittleEndian(h[20..]);
            if (vocab <= 0 || vocab > 1 << 24 || ctx < 2 || ctx > 1 << 20 || first < 0 || first >= ctx - 1 || windows <= 0 || windows > 1 << 20)
                throw new InvalidDataException($"{path}: header out of range (vocab {vocab}, n_ctx {ctx}, first {first}, windows {windows})");
            long tokenCount = (long)windows * ctx;
            long expected = 24 + 4 * tokenCount + (long)windows * (ctx - 1 - first) * (8 + 2L * vocab);
            if (fs.Length != expected)
                throw new InvalidDataException($"{path}: {fs.Length} bytes but the header implies {expected}: truncated or corrupt");
            var tokenBytes = new byte[4 * tokenCount];
            fs.ReadExactly(tokenBytes);
            var tokens = new int[tokenCount];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = BinaryPrimitives.ReadInt32LittleEndian(tokenBytes.AsSpan(4 * i));
                if ((uint)tokens[i] >= (uint)vocab) throw new InvalidDataException($"{path}: token {i} = {tokens[i]} is outside the vocabulary");
            }
            return new SavedLogits(fs, vocab, ctx, first, windows, tokens);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Reads the base log-probabilities of window <paramref name="window"/>, scored row <paramref name="row"/>.</summary>
    public void ReadRow(int window, int row, Span<double> logProbs)
    {
        _stream.Position = DataStart + ((long)window * ScoredPerWindow + row) * RowBytes;
        _stream.ReadExactly(_rowBuffer);
        float min = BinaryPrimitives.ReadSingleLittleEndian(_rowBuffer);
        float step = BinaryPrimitives.ReadSingleLittleEndian(_rowBuffer.AsSpan(4));
        for (int i = 0; i < VocabSize; i++)
            logProbs[i] = min + step * BinaryPrimitives.ReadUInt16LittleEndian(_rowBuffer.AsSpan(8 + 2 * i));
    }

    /// <summary>Encodes one row of log-probabilities into the 16-bit form.</summary>
    public static void EncodeRow(ReadOnlySpan<double> logProbs, Span<byte> dst)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in logProbs) { if (v < min) min = v; if (v > max) max = v; }
        // Clamp extreme tails: below −50 nats the probability is irrelevant for KL and Δp.
        min = Math.Max(min, max - 50);
        float step = (float)((max - min) / 65535.0);
        if (step == 0) step = 1;
        BinaryPrimitives.WriteSingleLittleEndian(dst, (float)min);
        BinaryPrimitives.WriteSingleLittleEndian(dst[4..], step);
        for (int i = 0; i < logProbs.Length; i++)
        {
            double q = Math.Round((Math.Max(logProbs[i], min) - (float)min) / step);
            BinaryPrimitives.WriteUInt16LittleEndian(dst[(8 + 2 * i)..], (ushort)Math.Clamp(q, 0, 65535));
        }
    }

    /// <summary>
    /// Evaluates the base model on llama.cpp-style windows of <paramref name="tokens"/> and saves its
    /// log-probabilities to <paramref name="path"/> (written to a temporary file, renamed when complete).
    /// <paramref name="protectedPaths"/> (the model, the text, the tokenizer) are never overwritten: a
    /// path equal to one of them after resolving links is refused before anything is evaluated.
    /// </summary>
    public static PerplexityResult Save(string path, ILogitsProvider provider, ReadOnlySpan<int> tokens, int contextLength, int? bosId, int? maxWindows = null, IProgress<(int, int)>? progress = null, CancellationToken cancellationToken = default, IEnumerable<string?>? protectedPaths = null)
    {
        int vocab = provider.VocabSize;
        int windows = tokens.Length / contextLength;
        if (maxWindows is { } mw) windows = Math.Min(windows, mw);
        if (windows == 0) throw new ArgumentException($"the text has {tokens.Length} tokens, fewer than one window of {contextLength}");
        int first = contextLength / 2;
        // Refuse before the (long) evaluation, not only at the rename.
        AtomicFile.ThrowIfProtected(path, protectedPaths);
        var acc = new NllAccumulator();
        var all = new int[windows * contextLength];
        for (int w = 0; w < windows; w++)
        {
            tokens.Slice(w * contextLength, contextLength).CopyTo(all.AsSpan(w * contextLength));
            if (bosId is { } bos) all[w * contextLength] = bos;
        }
        AtomicFile.Write(path, protectedPaths, fs =>
        {
            var header = new byte[24];
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), vocab);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), contextLength);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), first);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(20), windows);
            fs.Write(header);
            var tb = new byte[4];
            foreach (var t in all) { BinaryPrimitives.WriteInt32LittleEndian(tb, t); fs.Write(tb); }
            var logits = new float[contextLength * vocab];
            var lp = new double[vocab];
            var row = new byte[8 + 2 * vocab];
            for (int w = 0; w < windows; w++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var win = all.AsSpan(w * contextLength, contextLength);
                provider.EvaluateWindow(win, logits);
                for (int j = first; j < contextLength - 1; j++)
                {
                    LogSoftmax.All(logits.AsSpan(j * vocab, vocab), lp);
                    acc.Add(-lp[win[j + 1]]);
                    EncodeRow(lp, row);
                    fs.Write(row);
                }
                progress?.Report((w + 1, windows));
            }
        }, cancellationToken: cancellationToken);
        return acc.Result(windows);
    }

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();
}
