// Microsoft.Extensions.AI IChatClient over the engine: chat-templated prompts, sampling options, streaming, usage.
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using QuantSharp.Templates;

namespace QuantSharp;

/// <summary>
/// An <see cref="IChatClient"/> that runs a <see cref="QuantSharpModel"/> in process. The conversation is rendered with
/// the model's chat template (or <see cref="QuantSharpChatClientOptions.ChatTemplate"/>); ChatOptions map to the sampler
/// (MaxOutputTokens, Temperature, TopP, TopK, Seed, StopSequences). Every call has its own inference state, so concurrent
/// callers each get exactly what they would get alone. Cancellation is checked before every token.
/// </summary>
public sealed class QuantSharpChatClient : IChatClient
{
    private readonly QuantSharpModel _model;
    private readonly QuantSharpChatClientOptions _options;
    private readonly ChatTemplateInfo? _template;

    /// <summary>Creates a client over <paramref name="model"/> (which must outlive it).</summary>
    /// <param name="model">The loaded model.</param>
    /// <param name="options">Template override and defaults; null: the model's template.</param>
    public QuantSharpChatClient(QuantSharpModel model, QuantSharpChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _options = options ?? new QuantSharpChatClientOptions();
        if (_options.DefaultMaxOutputTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(options), _options.DefaultMaxOutputTokens, "QuantSharpChatClientOptions.DefaultMaxOutputTokens must be ≥ 0");
        _template = _options.ChatTemplate is { } t ? ChatTemplateInfo.FromText(t, model.Engine) : model.ChatTemplateInfo;
        Metadata = new ChatClientMetadata("QuantSharp", null, System.IO.Path.GetFileName(model.Path.TrimEnd('/')));
    }

    /// <summary>Provider "QuantSharp" and the model's file or folder name as the model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The prompt text the conversation renders to (the chat template's output, or the plain text), before tokenization.</summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="options">Request options (AdditionalProperties become template variables).</param>
    public string RenderPrompt(IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        if (list.Count == 0) throw new ArgumentException("the conversation has no messages", nameof(messages));
        if (_template is null) return string.Join("\n", list.Select(m => m.Text));
        var vars = new Dictionary<string, object?>(_options.TemplateVariables);
        if (options?.AdditionalProperties is { } extra) foreach (var kv in extra) vars[kv.Key] = kv.Value;
        try
        {
            return ChatPromptRenderer.Render(_template.Compiled, ChatPromptRenderer.ToTemplateMessages(list), addGenerationPrompt: true,
                _template.BosToken, _template.EosToken, vars);
        }
        catch (JinjaRaisedException ex) { throw new ArgumentException($"{_template.Origin}: the chat template refused the conversation: {ex.Message}", nameof(messages), ex); }
        catch (JinjaException ex) { throw new InvalidDataException($"{_template.Origin}: chat template: {ex.Message}", ex); }
    }

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (loop, promptTokens) = Prepare(messages, options);
        // The engine is synchronous and CPU-bound: run it off the caller's thread.
        await Task.Run(() => { foreach (var _ in loop.Run(cancellationToken)) { } }, cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, loop.Text))
        {
            FinishReason = Finish(loop.FinishReason),
            ModelId = Metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            Usage = Usage(promptTokens, loop.Tokens.Count),
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (loop, promptTokens) = Prepare(messages, options);
        string responseId = Guid.NewGuid().ToString("N");
        // Pull, not push: the next token is computed only when the caller asks for it, so a slow reader never
        // has tokens piling up and a cancel between two updates stops before the next forward step.
        using var pieces = loop.Run(cancellationToken).GetEnumerator();
        while (await Task.Run(pieces.MoveNext, cancellationToken).ConfigureAwait(false))
            yield return new ChatResponseUpdate(ChatRole.Assistant, pieces.Current) { ResponseId = responseId, ModelId = Metadata.DefaultModelId };
        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ResponseId = responseId,
            ModelId = Metadata.DefaultModelId,
            FinishReason = Finish(loop.FinishReason),
            Contents = [new UsageContent(Usage(promptTokens, loop.Tokens.Count))],
        };
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(QuantSharpModel)) return _model;
        return null;
    }

    /// <summary>Nothing to release: the model belongs to the caller.</summary>
    public void Dispose() { }

    private (GenerationLoop Loop, int PromptTokens) Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        string prompt = RenderPrompt(messages, options);
        // A template writes its own BOS and special tokens into the text (transformers tokenizes it with
        // add_special_tokens=False); the plain-text prompt is encoded as `quantsharp run -p` does.
        int[] ids = _template is null ? _model.Tokenize(prompt) : _model.Tokenize(prompt, addBos: false);
        if (ids.Length == 0) ids = _model.Tokenizer.BosId is { } b ? [b] : throw new ArgumentException("the conversation renders to an empty prompt and the tokenizer has no BOS token", nameof(messages));
        var gen = new GenerationOptions
        {
            MaxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Temperature = options?.Temperature ?? 0,
            TopP = options?.TopP ?? 1,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed is { } seed ? checked((int)seed) : 0,
            StopSequences = options?.StopSequences is { } stops ? [.. stops] : [],
        };
        if (gen.MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), gen.MaxTokens, "ChatOptions.MaxOutputTokens must be ≥ 0");
        return (new GenerationLoop(_model.Engine, _model.Execution, ids, gen), ids.Length);
    }

    private static ChatFinishReason Finish(GenerationFinishReason r) => r == GenerationFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(int input, int output) => new() { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output };
}
