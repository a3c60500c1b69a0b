// Autoregressive generation: prefill the prompt, then decode one token at a time.
using QuantSharp.Models.Llama;

namespace QuantSharp.Models;

/// <summary>Generates tokens from a prompt with an <see cref="InferenceSession"/>.</summary>
public sealed class TextGenerator(LlamaModel model, InferenceSession session, TokenSampler sampler)
{
    /// <summary>
    /// Generates up to <paramref name="maxTokens"/> tokens after <paramref name="prompt"/>, calling
    /// <paramref name="onToken"/> as each arrives. Stops early at EOS when <paramref name="stopAtEos"/>.
    /// </summary>
    public List<int> Generate(ReadOnlySpan<int> prompt, int maxTokens, Action<int>? onToken = null, bool stopAtEos = true)
    {
        if (prompt.Length == 0) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        if (maxTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxTokens));
        int room = session.ContextLength - session.Position - prompt.Length;
        if (room < 0) throw new ArgumentException($"the prompt ({prompt.Length} tokens) does not fit the context of {session.ContextLength}");
        maxTokens = Math.Min(maxTokens, room);
        var logits = new float[model.Parameters.VocabSize];
        var result = new List<int>(maxTokens);
        if (maxTokens == 0) return result;
        session.Forward(prompt, logits, allLogits: false);
        int? eos = model.Tokenizer?.EosId;
        for (int i = 0; i < maxTokens; i++)
        {
            int next = sampler.Sample(logits);
            if (stopAtEos && next == eos) break;
            result.Add(next);
            onToken?.Invoke(next);
            if (i + 1 < maxTokens) session.Forward([next], logits, allLogits: false);
        }
        return result;
    }
}
