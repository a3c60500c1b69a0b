// Renders chat messages into the prompt text with the model's template (or plain text for template-less base models).
using Microsoft.Extensions.AI;
using QuantSharp.Templates;

namespace QuantSharp;

/// <summary>
/// Turns Microsoft.Extensions.AI messages into the variables Hugging Face templates read (messages with role and
/// content, add_generation_prompt, bos_token, eos_token, plus extra variables) and renders them.
/// </summary>
public static class ChatPromptRenderer
{
    /// <summary>Messages as templates see them: a list of {role, content} dictionaries (content is the message text).</summary>
    /// <param name="messages">The conversation.</param>
    public static List<Dictionary<string, object?>> ToTemplateMessages(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return [.. messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role.Value, ["content"] = m.Text })];
    }

    /// <summary>
    /// Renders <paramref name="template"/> for <paramref name="messages"/> as transformers'
    /// <c>apply_chat_template(messages, add_generation_prompt=…, tokenize=False, **variables)</c> does.
    /// </summary>
    /// <param name="template">The parsed template.</param>
    /// <param name="messages">The conversation as role/content dictionaries.</param>
    /// <param name="addGenerationPrompt">Append the assistant turn's opening.</param>
    /// <param name="bosToken">Text of the BOS token (the template's bos_token), if any.</param>
    /// <param name="eosToken">Text of the EOS token (eos_token), if any.</param>
    /// <param name="variables">Further variables (enable_thinking, tools, …).</param>
    public static string Render(JinjaTemplate template, IEnumerable<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt,
        string? bosToken = null, string? eosToken = null, IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(messages);
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)m.ToDictionary(kv => kv.Key, kv => kv.Value)).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (bosToken != null) vars["bos_token"] = bosToken;
        if (eosToken != null) vars["eos_token"] = eosToken;
        if (variables != null) foreach (var kv in variables) vars[kv.Key] = kv.Value;
        return template.Render(vars);
    }
}
