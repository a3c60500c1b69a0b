// Unicode NFC (canonical composition) without ICU: the "NFC" normalizer of tokenizer.json (Qwen2/Qwen3).
using System.Collections.Frozen;
using System.Text;

namespace QuantSharp.Formats.Tokenizers;

/// <summary>
/// Normalization Form C as HF tokenizers' NFC normalizer applies it: canonical decomposition,
/// canonical ordering of combining marks, canonical composition. Written out because the projects
/// run with InvariantGlobalization, where <see cref="string.Normalize()"/> silently returns
/// non-ASCII text unchanged; the tables come from <see cref="UnicodeNfcData"/>.
/// </summary>
public static class UnicodeNfc
{
    // Below U+0300 every character is a starter that neither decomposes nor composes with what
    // precedes it, so text made only of such characters is already NFC (the common case).
    private const char FirstInteresting = '\u0300';

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(Tables.Build);

    /// <summary>The Unicode version of the tables.</summary>
    public static string UnicodeVersion => UnicodeNfcData.UnicodeVersion;

    /// <summary>Whether <paramref name="text"/> may change under NFC (false means it certainly does not).</summary>
    public static bool MayChange(ReadOnlySpan<char> text) => text.IndexOfAnyInRange(FirstInteresting, '\uFFFF') >= 0;

    /// <summary>
    /// <paramref name="text"/> in NFC. Lone surrogates pass through unchanged (they are starters
    /// that compose with nothing).
    /// </summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return MayChange(text) ? Compose(text) : text;
    }

    /// <summary><paramref name="text"/> in NFC, as a new string (or the same characters when nothing changes).</summary>
    public static string Normalize(ReadOnlySpan<char> text) => MayChange(text) ? Compose(text) : text.ToString();

    private static string Compose(ReadOnlySpan<char> text)
    {
        var t = Data.Value;
        // Decomposition never shrinks and expands at most a few code points per character.
        var buffer = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cp = char.ConvertToUtf32(text[i], text[i + 1]);
                i++;
            }
            Decompose(t, cp, buffer);
        }

        // Canonical ordering: a stable sort of every run of non-starters by combining class.
        for (int i = 1; i < buffer.Count; i++)
        {
            int c = t.CombiningClass(buffer[i]);
            if (c == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int prev = t.CombiningClass(buffer[j - 1]);
                if (prev <= c) break;
                (buffer[j - 1], buffer[j]) = (buffer[j], buffer[j - 1]);
            }
        }

        // Canonical composition (UAX #15): each character composes with the last starter unless a
        // character of equal or higher class, or a starter, stands between them.
        int count = buffer.Count;
        if (count > 0)
        {
            int starterPos = 0;
            int starter = buffer[0];
            int lastClass = t.CombiningClass(starter) == 0 ? 0 : 256; // text starting with a mark composes with nothing
            int write = 1;
            for (int read = 1; read < count; read++)
            {
                int ch = buffer[read];
                int chClass = t.CombiningClass(ch);
                if ((lastClass < chClass || lastClass == 0) && TryCompose(t, starter, ch, out int composite))
                {
                    buffer[starterPos] = starter = composite;
                    continue;
                }
                if (chClass == 0)
                {
                    starterPos = write;
                    starter = ch;
                }
                lastClass = chClass;
                buffer[write++] = ch;
            }
            count = write;
        }

        var sb = new StringBuilder(count + 4);
        for (int i = 0; i < count; i++)
        {
            int cp = buffer[i];
            // Lone surrogates were kept as their own code units.
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp);
            else sb.Append(new Rune(cp));
        }
        return sb.ToString();
    }

    private static void Decompose(Tables t, int cp, List<int> output)
    {
        int s = cp - SBase;
        if ((uint)s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (t.Decomposition.TryGetValue(cp, out var d))
        {
            Decompose(t, d.First, output);
            if (d.Second >= 0) Decompose(t, d.Second, output);
            return;
        }
        output.Add(cp);
    }

    private static bool TryCompose(Tables t, int first, int second, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if ((uint)l < LCount && (uint)v < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }
        int s = first - SBase, tt = second - TBase;
        if ((uint)s < SCount && s % TCount == 0 && tt > 0 && tt < TCount)
        {
            composite = first + tt;
            return true;
        }
        return t.Composition.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private sealed class Tables
    {
        public required FrozenDictionary<int, (int First, int Second)> Decomposition { get; init; }
        public required FrozenDictionary<long, int> Composition { get; init; }
        public required int[] ClassRunStarts { get; init; }
        public required int[] ClassRunEnds { get; init; }
        public required byte[] ClassRunValues { get; init; }

        public int CombiningClass(int cp)
        {
            if (cp < FirstInteresting) return 0;
            int i = Array.BinarySearch(ClassRunStarts, cp);
            if (i < 0) i = ~i - 1;
            return i >= 0 && cp <= ClassRunEnds[i] ? ClassRunValues[i] : 0;
        }

        public static Tables Build()
        {
            var decompositions = new Dictionary<int, (int, int)>();
            var compositions = new Dictionary<long, int>();
            var d = UnicodeNfcData.Decompositions;
            for (int i = 0; i < d.Length; i += 4)
            {
                decompositions[d[i]] = (d[i + 1], d[i + 2]);
                if (d[i + 3] != 0) compositions[((long)d[i + 1] << 21) | (uint)d[i + 2]] = d[i];
            }
            var runs = UnicodeNfcData.CombiningClassRuns;
            int n = runs.Length / 3;
            var starts = new int[n];
            var ends = new int[n];
            var values = new byte[n];
            for (int i = 0; i < n; i++)
            {
                starts[i] = runs[3 * i];
                ends[i] = runs[3 * i + 1];
                values[i] = (byte)runs[3 * i + 2];
            }
            return new Tables
            {
                Decomposition = decompositions.ToFrozenDictionary(),
                Composition = compositions.ToFrozenDictionary(),
                ClassRunStarts = starts,
                ClassRunEnds = ends,
                ClassRunValues = values,
            };
        }
    }
}
