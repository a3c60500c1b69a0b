// A validated POST /v1/chat/completions body: the conversation and its generation settings.
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace QuantSharp.Server;

/// <summary>
/// What a chat completion asks for. <see cref="Parse"/> is a pure function: it either returns a request the engine can
/// run or throws a 400 <see cref="ApiException"/> naming the field (missing <c>messages</c>, a role that is not a
/// string, content of the wrong shape, a negative <c>max_tokens</c>, a temperature out of range, …).
/// </summary>
public sealed record ChatCompletionRequest
{
    /// <summary>Roles accepted in <c>messages</c> (<c>developer</c> is read as <c>system</c>, as OpenAI does for older models).</summary>
    public static readonly IReadOnlyList<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary>The conversation.</summary>
    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    /// <summary>Length, sampling, stop and streaming settings.</summary>
    public required SamplingRequest Sampling { get; init; }

    /// <summary>Parses and checks a request body.</summary>
    /// <param name="body">UTF-8 JSON.</param>
    public static ChatCompletionRequest Parse(ReadOnlyMemory<byte> body)
    {
        using var doc = RequestJson.ParseObject(body);
        var root = doc.RootElement;
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
            throw ApiException.Invalid("'messages' is a required property", "messages");
        if (messages.ValueKind != JsonValueKind.Array) throw ApiException.Invalid($"'messages' must be an array, got {JsonFields.Describe(messages)}", "messages");
        if (messages.GetArrayLength() == 0) throw ApiException.Invalid("'messages' must contain at least one message", "messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in messages.EnumerateArray()) list.Add(ParseMessage(m, $"messages[{i++}]"));
        return new ChatCompletionRequest { Messages = list, Sampling = SamplingRequest.Parse(root, chat: true) };
    }

    /// <summary>The request as Microsoft.Extensions.AI chat options (null fields: the chat client's defaults).</summary>
    public ChatOptions ToChatOptions() => new()
    {
        MaxOutputTokens = Sampling.MaxTokens,
        Temperature = Sampling.Temperature,
        TopP = Sampling.TopP,
        TopK = Sampling.TopK,
        Seed = Sampling.Seed,
        StopSequences = Sampling.Stop.Count > 0 ? [.. Sampling.Stop] : null,
    };

    private static ChatMessage ParseMessage(JsonElement m, string path)
    {
        if (m.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"'{path}' must be an object, got {JsonFields.Describe(m)}", path);
        string role = JsonFields.String(m, "role", $"{path}.role") ?? throw ApiException.Invalid($"'{path}.role' is a required property", $"{path}.role");
        if (!Roles.Contains(role))
            throw ApiException.Invalid($"'{path}.role' = '{role}' is not one of {string.Join(", ", Roles.Select(r => $"'{r}'"))}", $"{path}.role");
        string text = ParseContent(m, path, role);
        var chatRole = role switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            _ => ChatRole.Tool,
        };
        return new ChatMessage(chatRole, text);
    }

    /// <summary>Content: a string, or an array of text parts (OpenAI's multi-part form); null only for an assistant turn.</summary>
    private static string ParseContent(JsonElement m, string path, string role)
    {
        string param = $"{path}.content";
        if (!m.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null)
            return role == "assistant" ? "" : throw ApiException.Invalid($"'{param}' is a required property", param);
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw ApiException.Invalid($"'{param}' must be a string or an array of content parts, got {JsonFields.Describe(c)}", param);
        var text = new System.Text.StringBuilder();
        int j = 0;
        foreach (var part in c.EnumerateArray())
        {
            string pp = $"{param}[{j++}]";
            if (part.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"'{pp}' must be an object, got {JsonFields.Describe(part)}", pp);
            string type = JsonFields.String(part, "type", $"{pp}.type") ?? throw ApiException.Invalid($"'{pp}.type' is a required property", $"{pp}.type");
            if (type != "text") throw ApiException.Invalid($"'{pp}.type' = '{type}' is not supported: the model reads text only", $"{pp}.type");
            text.Append(JsonFields.String(part, "text", $"{pp}.text") ?? throw ApiException.Invalid($"'{pp}.text' is a required property", $"{pp}.text"));
        }
        return text.ToString();
    }
}
