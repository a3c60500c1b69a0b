// The one token-by-token generation loop behind QuantSharpModel.Generate and the IChatClient (streaming and not).
using System.Text;
using QuantSharp.Core.Kernels;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp;

/// <summary>
/// One generation over its own <see cref="InferenceSession"/> (so concurrent generations on one model never share
/// state). Produces tokens one at a time with their text; each forward step runs under the model's
/// <see cref="ExecutionOptions"/>. Token choice is exactly <see cref="TextGenerator"/>'s (prefill, sample, feed back),
/// so the same prompt and seed give the same ids as <c>quantsharp run</c>.
/// </summary>
internal sealed class GenerationLoop
{
    private readonly LlamaModel _model;
    private readonly ExecutionOptions _execution;
    private readonly int[] _prompt;
    private readonly GenerationOptions _options;
    private readonly TokenSampler _sampler;
    private readonly Decoder _utf8 = new UTF8Encoding(false).GetDecoder();
    private readonly StringBuilder _text = new();
    private readonly List<int> _tokens = [];
    private int _emitted; // characters of _text already handed out (held back while they could start a stop sequence)

    public GenerationLoop(LlamaModel model, ExecutionOptions execution, int[] prompt, GenerationOptions options)
    {
        if (prompt.Length == 0) throw new ArgumentException("the prompt has no tokens (and the tokenizer has no BOS token)", nameof(prompt));
        if (options.MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), options.MaxTokens, "GenerationOptions.MaxTokens must be ≥ 0");
        foreach (var s in options.StopSequences)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("GenerationOptions.StopSequences: a stop sequence is empty", nameof(options));
        if (prompt.Length >= model.Parameters.ContextLength)
            throw new ArgumentException($"the prompt ({prompt.Length} tokens) does not fit the model's context of {model.Parameters.ContextLength}", nameof(prompt));
        _model = model;
        _execution = execution;
        _prompt = prompt;
        _options = options;
        try { _sampler = new TokenSampler(options.Temperature, options.TopK, options.TopP, options.Seed); }
        catch (ArgumentOutOfRangeException ex) { throw new ArgumentException($"GenerationOptions.{ex.ParamName switch { "temperature" => "Temperature", "topK" => "TopK", _ => "TopP" }}: {ex.Message.Split(Environment.NewLine)[0]}", nameof(options)); }
    }

    /// <summary>Tokens in the prompt (BOS included).</summary>
    public int PromptTokenCount => _prompt.Length;

    /// <summary>Generated ids so far.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>Why the loop ended (valid after <see cref="Run"/> finished).</summary>
    public GenerationFinishReason FinishReason { get; private set; } = GenerationFinishReason.Length;

    /// <summary>The final text (cut before a stop sequence).</summary>
    public string Text => _text.ToString();

    /// <summary>
    /// Runs the loop; yields each piece of new text as soon as it can no longer turn into a stop sequence.
    /// Checks <paramref name="cancellationToken"/> before every forward step, so a cancel stops within one token.
    /// </summary>
    public IEnumerable<string> Run(CancellationToken cancellationToken)
    {
        int count = Math.Min(_options.MaxTokens, _model.Parameters.ContextLength - _prompt.Length);
        if (count <= 0) yield break;
        // Same context size as `quantsharp run`, so both take the same path through the engine.
        var session = new InferenceSession(_model, Math.Min(_model.Parameters.ContextLength, _prompt.Length + count + 1), kvCache: _options.KvCache);
        var logits = new float[_model.Parameters.VocabSize];
        var tok = _model.Tokenizer!;
        int? eos = _options.StopAtEndOfSequence ? tok.EosId : null;
        cancellationToken.ThrowIfCancellationRequested();
        Forward(session, _prompt, logits);
        int? previous = _prompt[^1];
        for (int i = 0; i < count; i++)
        {
            int next = _sampler.Sample(logits);
            if (next == eos) { FinishReason = GenerationFinishReason.EndOfSequence; break; }
            _tokens.Add(next);
            AppendBytes(tok.TokenBytes(next, previous));
            previous = next;
            if (CutAtStop()) { FinishReason = GenerationFinishReason.StopSequence; break; }
            if (TakeSafeText() is { Length: > 0 } piece) yield return piece;
            if (i + 1 < count)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Forward(session, [next], logits);
            }
        }
        FlushDecoder();
        if (FinishReason != GenerationFinishReason.StopSequence && CutAtStop()) FinishReason = GenerationFinishReason.StopSequence;
        if (_text.Length > _emitted) { string rest = _text.ToString(_emitted, _text.Length - _emitted); _emitted = _text.Length; yield return rest; }
    }

    private void Forward(InferenceSession session, ReadOnlySpan<int> tokens, float[] logits)
    {
        // Scoped per step: an async caller may resume on another thread between tokens.
        using var scope = KernelOptions.Use(_execution);
        session.Forward(tokens, logits, allLogits: false);
    }

    private void AppendBytes(byte[] bytes)
    {
        var chars = new char[Math.Max(16, bytes.Length * 2)];
        int c = _utf8.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
        _text.Append(chars, 0, c);
    }

    private void FlushDecoder()
    {
        var chars = new char[16];
        int c = _utf8.GetChars([], 0, 0, chars, 0, flush: true);
        _text.Append(chars, 0, c);
    }

    /// <summary>Cuts the text before the first stop sequence; true when one was found.</summary>
    private bool CutAtStop()
    {
        if (_options.StopSequences.Count == 0) return false;
        string s = _text.ToString();
        int cut = -1;
        foreach (var stop in _options.StopSequences)
        {
            int at = s.IndexOf(stop, Math.Max(0, _emitted - stop.Length), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut < 0) return false;
        _text.Length = Math.Max(cut, _emitted);
        return true;
    }

    /// <summary>New text that cannot be the start of a stop sequence any more.</summary>
    private string TakeSafeText()
    {
        int hold = 0;
        foreach (var stop in _options.StopSequences)
            for (int k = Math.Min(stop.Length - 1, _text.Length - _emitted); k > hold; k--)
                if (EndsWith(stop.AsSpan(0, k))) { hold = k; break; }
        int end = _text.Length - hold;
        if (end <= _emitted) return "";
        string piece = _text.ToString(_emitted, end - _emitted);
        _emitted = end;
        return piece;
    }

    private bool EndsWith(ReadOnlySpan<char> prefix)
    {
        if (prefix.Length > _text.Length) return false;
        for (int i = 0; i < prefix.Length; i++)
            if (_text[_text.Length - prefix.Length + i] != prefix[i]) return false;
        return true;
    }
}
