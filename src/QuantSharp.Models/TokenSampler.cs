// Chooses the next token from logits: greedy, or temperature / top-k / top-p sampling with a seed.
namespace QuantSharp.Models;

/// <summary>
/// Next-token selection. Temperature 0 is greedy (ties go to the lowest id, as llama.cpp's greedy
/// sampler does). Sampling uses a seeded generator, so a seed reproduces a run exactly.
/// </summary>
public sealed class TokenSampler
{
    private readonly Random _random;
    private (float Logit, int Id)[] _candidates = [];

    /// <summary>Creates a sampler.</summary>
    public TokenSampler(float temperature = 0, int topK = 0, float topP = 1, int seed = 0)
    {
        if (!(temperature >= 0) || float.IsInfinity(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be ≥ 0");
        if (topK < 0) throw new ArgumentOutOfRangeException(nameof(topK), topK, "top-k must be ≥ 0 (0 disables it)");
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), topP, "top-p must be in (0, 1]");
        Temperature = temperature;
        TopK = topK;
        TopP = topP;
        _random = new Random(seed);
    }

    /// <summary>Softmax temperature (0 = greedy).</summary>
    public float Temperature { get; }
    /// <summary>Keep only the k most likely tokens (0 = all).</summary>
    public int TopK { get; }
    /// <summary>Nucleus: keep the smallest set whose probability reaches p.</summary>
    public float TopP { get; }

    /// <summary>Picks a token id.</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (Temperature == 0) return ArgMax(logits);
        if (_candidates.Length < logits.Length) _candidates = new (float, int)[logits.Length];
        var c = _candidates.AsSpan(0, logits.Length);
        for (int i = 0; i < logits.Length; i++) c[i] = (logits[i] / Temperature, i);
        // Stable order: by logit descending, then id ascending, so results never depend on sort internals.
        c.Sort(static (a, b) => a.Logit != b.Logit ? b.Logit.CompareTo(a.Logit) : a.Id.CompareTo(b.Id));
        int n = TopK > 0 ? Math.Min(TopK, c.Length) : c.Length;
        double max = c[0].Logit, sum = 0;
        var p = new double[n];
        for (int i = 0; i < n; i++) { p[i] = Math.Exp(c[i].Logit - max); sum += p[i]; }
        double cumulative = 0;
        int keep = n;
        for (int i = 0; i < n; i++)
        {
            cumulative += p[i] / sum;
            if (cumulative >= TopP) { keep = i + 1; break; }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[i];
        double r = _random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            r -= p[i];
            if (r < 0) return c[i].Id;
        }
        return c[keep - 1].Id;
    }

    /// <summary>Index of the largest logit (lowest index on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
