// The BPE merge loop of HF tokenizers' BPE model: merge the adjacent pair with the lowest merge rank until none is left.
namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Merge table keyed by token-id pairs, and the merge loop over one pre-token ("word"). Mirrors HF
/// tokenizers' <c>Word::merge_all</c>: a priority queue ordered by (rank, position), so equal-rank
/// occurrences of a pair merge left to right; stale queue entries are skipped when popped. This is
/// O(n log n) per word, which matters for SentencePiece-style models where a whole line is one word.
/// </summary>
internal sealed class BpeMerger
{
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;

    [ThreadStatic] private static PriorityQueue<int, long>? _queue;
    [ThreadStatic] private static int[]? _prev;
    [ThreadStatic] private static int[]? _next;

    /// <summary>Builds the table; merges whose parts or result are missing from the vocabulary are an error.</summary>
    public BpeMerger(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string origin)
    {
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r))
            {
                throw new InvalidDataException($"{origin}: merge #{rank} \"{left} {right}\" uses a token that is not in the vocabulary.");
            }
            if (!vocab.TryGetValue(left + right, out int merged))
            {
                throw new InvalidDataException($"{origin}: merge #{rank} \"{left} {right}\" produces a token that is not in the vocabulary.");
            }
            // HF keeps the first rank when a pair is listed twice.
            _merges.TryAdd(Key(l, r), (rank, merged));
        }
    }

    /// <summary>Number of distinct merges.</summary>
    public int Count => _merges.Count;

    /// <summary>Looks up the merge of an adjacent id pair.</summary>
    public bool TryGetMerge(int left, int right, out int rank, out int newId)
    {
        if (_merges.TryGetValue(Key(left, right), out var m))
        {
            rank = m.Rank;
            newId = m.NewId;
            return true;
        }
        rank = 0;
        newId = 0;
        return false;
    }

    /// <summary>
    /// Applies all merges to <paramref name="symbols"/> (initial token ids of one word) and returns
    /// the merged ids.
    /// </summary>
    public int[] Merge(Span<int> symbols)
    {
        int n = symbols.Length;
        if (n <= 1) return symbols.ToArray();
        if (n == 2)
        {
            // The common short case needs no queue.
            return TryGetMerge(symbols[0], symbols[1], out _, out int id) ? [id] : symbols.ToArray();
        }

        var queue = _queue ??= new PriorityQueue<int, long>();
        queue.Clear();
        if (_prev is null || _prev.Length < n)
        {
            _prev = new int[Math.Max(n, 64)];
            _next = new int[Math.Max(n, 64)];
        }
        int[] prev = _prev, next = _next!;
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (int i = 0; i + 1 < n; i++)
        {
            if (TryGetMerge(symbols[i], symbols[i + 1], out int rank, out _)) queue.Enqueue(i, Priority(rank, i));
        }

        int alive = n;
        while (queue.TryDequeue(out int pos, out long priority))
        {
            int right = next[pos];
            // Entries go stale when either side was merged away since they were queued.
            if (symbols[pos] < 0 || right < 0) continue;
            if (!TryGetMerge(symbols[pos], symbols[right], out int rank, out int newId) || rank != (int)(priority >> 32)) continue;

            symbols[pos] = newId;
            symbols[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;
            alive--;

            int before = prev[pos];
            if (before >= 0 && TryGetMerge(symbols[before], newId, out int r1, out _)) queue.Enqueue(before, Priority(r1, before));
            if (after >= 0 && TryGetMerge(newId, symbols[after], out int r2, out _)) queue.Enqueue(pos, Priority(r2, pos));
        }

        var result = new int[alive];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) result[k++] = symbols[i];
        return result;
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private static long Priority(int rank, int pos) => ((long)rank << 32) | (uint)pos;
}
