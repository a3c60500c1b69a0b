// Settings of a QuantSharpChatClient: template override and the defaults of requests that leave a field unset.
namespace QuantSharp;

/// <summary>Options of <see cref="QuantSharpChatClient"/>.</summary>
public sealed record QuantSharpChatClientOptions
{
    /// <summary>
    /// A Jinja chat template used instead of the model's. When neither exists the prompt is the messages' text
    /// joined by newlines (what a base model such as stories260K expects; one user message = <c>quantsharp run -p</c>).
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Tokens to generate when a request sets no MaxOutputTokens (default 256).</summary>
    public int DefaultMaxOutputTokens { get; init; } = 256;

    /// <summary>
    /// Extra top-level template variables (e.g. <c>enable_thinking = false</c> for Qwen3); a request's
    /// ChatOptions.AdditionalProperties with the same names override them.
    /// </summary>
    public IReadOnlyDictionary<string, object?> TemplateVariables { get; init; } = new Dictionary<string, object?>();
}
