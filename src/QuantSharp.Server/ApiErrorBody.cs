// Writes OpenAI's error object: {"error":{"message":…,"type":…,"param":…,"code":…}}.
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>The JSON body of an error response (also sent as an SSE event when a stream fails after it started).</summary>
public static class ApiErrorBody
{
    /// <summary>Writes <c>{"error":{…}}</c> for <paramref name="error"/>.</summary>
    /// <param name="writer">Destination.</param>
    /// <param name="error">The error.</param>
    public static void Write(Utf8JsonWriter writer, ApiException error)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("message", error.Message);
        writer.WriteString("type", error.Type);
        if (error.Param is null) writer.WriteNull("param"); else writer.WriteString("param", error.Param);
        if (error.Code is null) writer.WriteNull("code"); else writer.WriteString("code", error.Code);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>The error body as UTF-8 bytes.</summary>
    /// <param name="error">The error.</param>
    public static byte[] ToUtf8(ApiException error) => OpenAiJson.Build(w => Write(w, error));
}
