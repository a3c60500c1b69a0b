// Calibration token sequences drawn from text files: seeded random segments (GPTQ's recipe) or whole documents.
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// The token sequences a data-aware quantizer runs through the model. Each sequence is evaluated on
/// its own from position 0 with causal attention inside it.
/// <para>Segments (<see cref="RandomSegments"/>), as GPTQ samples WikiText-2/C4: the files are read
/// as UTF-8, joined with "\n\n" and tokenized once without BOS; then for each of n samples a start
/// s = <see cref="CalibrationRandom.NextBelow"/>(tokens − L + 1) is drawn from a
/// <see cref="CalibrationRandom"/> seeded with the seed, and tokens [s, s+L) form the sample (with
/// replacement, in draw order). Same files, tokenizer, n, L and seed → the same sequences anywhere.</para>
/// <para>Documents (<see cref="WholeDocuments"/>): each file is split at lines holding only
/// &lt;|endoftext|&gt; when it has them, else at blank lines; each document is tokenized with BOS
/// (when the tokenizer has one) and truncated to L tokens; when there are more than n documents, n
/// are chosen by a seeded partial Fisher–Yates shuffle and kept in file order.</para>
/// </summary>
public sealed class CalibrationSet
{
    /// <summary>GPTQ's default number of samples.</summary>
    public const int DefaultSamples = 128;

    /// <summary>GPTQ's default segment length (capped by the model's context).</summary>
    public const int DefaultSequenceLength = 2048;

    /// <summary>Wraps sequences (each non-empty).</summary>
    public CalibrationSet(IReadOnlyList<int[]> sequences, string description)
    {
        if (sequences.Count == 0) throw new ArgumentException("a calibration set needs at least one sequence");
        for (int i = 0; i < sequences.Count; i++)
            if (sequences[i].Length == 0) throw new ArgumentException($"calibration sequence {i} is empty");
        Sequences = sequences;
        Description = description;
    }

    /// <summary>The sequences.</summary>
    public IReadOnlyList<int[]> Sequences { get; }

    /// <summary>How the set was made (for logs and reports).</summary>
    public string Description { get; }

    /// <summary>Total tokens over all sequences.</summary>
    public long TotalTokens => Sequences.Sum(s => (long)s.Length);

    /// <summary>Longest sequence.</summary>
    public int MaxLength => Sequences.Max(s => s.Length);

    /// <summary><paramref name="samples"/> random segments of <paramref name="length"/> tokens (see the class notes).</summary>
    public static CalibrationSet RandomSegments(ITextTokenizer tokenizer, IReadOnlyList<string> files, int samples, int length, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        int[] tokens = tokenizer.Encode(string.Join("\n\n", ReadAll(files)));
        if (tokens.Length < length)
            throw new InvalidDataException($"{string.Join(", ", files)}: {tokens.Length} tokens are fewer than one calibration segment of {length}");
        return FromTokens(tokens, samples, length, seed, $"{samples} segments of {length} tokens, seed {seed}, from {string.Join(", ", files.Select(Path.GetFileName))} ({tokens.Length} tokens)");
    }

    /// <summary>The segment-drawing step of <see cref="RandomSegments"/> on already tokenized text.</summary>
    public static CalibrationSet FromTokens(int[] tokens, int samples, int length, ulong seed, string? description = null)
    {
        if (tokens.Length < length) throw new ArgumentException($"{tokens.Length} tokens are fewer than one segment of {length}");
        var rng = new CalibrationRandom(seed);
        var seqs = new List<int[]>(samples);
        for (int i = 0; i < samples; i++)
        {
            int start = (int)rng.NextBelow(tokens.Length - length + 1);
            seqs.Add(tokens.AsSpan(start, length).ToArray());
        }
        return new CalibrationSet(seqs, description ?? $"{samples} segments of {length} tokens, seed {seed}");
    }

    /// <summary>At most <paramref name="samples"/> whole documents, each truncated to <paramref name="length"/> tokens (see the class notes).</summary>
    public static CalibrationSet WholeDocuments(ITextTokenizer tokenizer, IReadOnlyList<string> files, int samples, int length, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 2);
        var docs = new List<string>();
        foreach (var text in ReadAll(files)) docs.AddRange(SplitDocuments(text));
        if (docs.Count == 0) throw new InvalidDataException($"{string.Join(", ", files)}: no documents found");
        var chosen = Enumerable.Range(0, docs.Count).ToArray();
        int take = Math.Min(samples, docs.Count);
        var rng = new CalibrationRandom(seed);
        for (int i = 0; i < take; i++)
        {
            int j = i + (int)rng.NextBelow(docs.Count - i);
            (chosen[i], chosen[j]) = (chosen[j], chosen[i]);
        }
        Array.Sort(chosen, 0, take);
        var seqs = new List<int[]>(take);
        for (int i = 0; i < take; i++)
        {
            var ids = tokenizer.Encode(docs[chosen[i]], addBos: tokenizer.BosId != null);
            seqs.Add(ids.Length > length ? ids[..length] : ids);
        }
        return new CalibrationSet(seqs, $"{take} of {docs.Count} documents (≤ {length} tokens), seed {seed}");
    }

    /// <summary>Documents of one text: split at &lt;|endoftext|&gt; lines when present, else at blank lines.</summary>
    public static List<string> SplitDocuments(string text)
    {
        text = text.Replace("\r\n", "\n");
        string[] parts = text.Contains("<|endoftext|>", StringComparison.Ordinal)
            ? text.Split("<|endoftext|>")
            : System.Text.RegularExpressions.Regex.Split(text, @"\n[ \t]*\n");
        var docs = new List<string>();
        foreach (var p in parts)
        {
            var d = p.Trim();
            if (d.Length > 0) docs.Add(d);
        }
        return docs;
    }

    private static List<string> ReadAll(IReadOnlyList<string> files)
    {
        if (files.Count == 0) throw new ArgumentException("no calibration files given");
        var texts = new List<string>(files.Count);
        foreach (var f in files)
        {
            if (!File.Exists(f)) throw new FileNotFoundException($"{f}: calibration text not found", f);
            texts.Add(File.ReadAllText(f));
        }
        return texts;
    }
}
