// OpenAI's response shapes (chat.completion, chat.completion.chunk, text_completion, model list), written field by field.
using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>Token counts of one answer.</summary>
/// <param name="Prompt">Prompt tokens (as fed to the model).</param>
/// <param name="Completion">Generated tokens.</param>
public readonly record struct TokenUsage(int Prompt, int Completion);

/// <summary>
/// Writes the JSON the OpenAI API returns, with the same field names and nesting, so OpenAI clients parse it unchanged.
/// Written by hand (Utf8JsonWriter) rather than serialized from classes: the shapes are fixed and small, and nulls
/// that OpenAI sends explicitly (<c>logprobs</c>, <c>finish_reason</c> while streaming) stay explicit.
/// </summary>
public static class OpenAiJson
{
    /// <summary>Runs <paramref name="write"/> into a UTF-8 buffer.</summary>
    /// <param name="write">Writes one JSON value.</param>
    public static byte[] Build(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Relaxed escaping: generated text keeps its characters (UTF-8) and quotes; bodies are JSON, never embedded in HTML.
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>OpenAI's finish reason for ours: <c>length</c> when the token budget ran out, else <c>stop</c>.</summary>
    /// <param name="reason">Why the generation ended.</param>
    public static string FinishReason(GenerationFinishReason reason) => reason == GenerationFinishReason.Length ? "length" : "stop";

    /// <summary>A non-streamed chat completion.</summary>
    public static byte[] ChatCompletion(string id, long created, string model, string text, string finishReason, TokenUsage usage) => Build(w =>
    {
        Header(w, id, "chat.completion", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", text);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w, usage);
        w.WriteEndObject();
    });

    /// <summary>
    /// A chat completion chunk: the first carries the role, the middle ones content, the last the finish reason
    /// (each with one choice); <paramref name="usageNull"/> writes <c>"usage": null</c> as OpenAI does when usage is requested.
    /// </summary>
    public static byte[] ChatChunk(string id, long created, string model, string? role, string? content, string? finishReason, bool usageNull) => Build(w =>
    {
        Header(w, id, "chat.completion.chunk", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        if (role != null) w.WriteString("role", role);
        if (content != null) w.WriteString("content", content);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finishReason is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (usageNull) w.WriteNull("usage");
        w.WriteEndObject();
    });

    /// <summary>The last chunk of a stream with <c>include_usage</c>: no choices, the token counts.</summary>
    public static byte[] UsageChunk(string id, string obj, long created, string model, TokenUsage usage) => Build(w =>
    {
        Header(w, id, obj, created, model);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        Usage(w, usage);
        w.WriteEndObject();
    });

    /// <summary>A text completion (<c>text_completion</c>); while streaming, <paramref name="usage"/> is null and so may be <paramref name="finishReason"/>.</summary>
    public static byte[] Completion(string id, long created, string model, string text, string? finishReason, TokenUsage? usage, bool usageNull = false) => Build(w =>
    {
        Header(w, id, "text_completion", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteNumber("index", 0);
        w.WriteNull("logprobs");
        if (finishReason is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (usage is { } u) Usage(w, u);
        else if (usageNull) w.WriteNull("usage");
        w.WriteEndObject();
    });

    /// <summary>The model list (<c>GET /v1/models</c>): the one model this server runs.</summary>
    public static byte[] Models(string model, long created) => Build(w =>
    {
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        Model(w, model, created);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>One model object (<c>GET /v1/models/{id}</c>).</summary>
    public static byte[] ModelObject(string model, long created) => Build(w => Model(w, model, created));

    private static void Model(Utf8JsonWriter w, string model, long created)
    {
        w.WriteStartObject();
        w.WriteString("id", model);
        w.WriteString("object", "model");
        w.WriteNumber("created", created);
        w.WriteString("owned_by", "quantsharp");
        w.WriteEndObject();
    }

    private static void Header(Utf8JsonWriter w, string id, string obj, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", obj);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    private static void Usage(Utf8JsonWriter w, TokenUsage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", u.Prompt);
        w.WriteNumber("completion_tokens", u.Completion);
        w.WriteNumber("total_tokens", u.Prompt + u.Completion);
        w.WriteEndObject();
    }
}
