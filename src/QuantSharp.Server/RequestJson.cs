// Turns a request body into a JSON object, or a 400 that says why it is not one.
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>Parses request bodies (pure: bytes in, document or <see cref="ApiException"/> out).</summary>
public static class RequestJson
{
    /// <summary>Deepest nesting accepted (far above any real request; bounds the parser's work on hostile bodies).</summary>
    public const int MaxDepth = 32;

    /// <summary>Parses <paramref name="body"/>, which must be one JSON object.</summary>
    /// <param name="body">The request body.</param>
    public static JsonDocument ParseObject(ReadOnlyMemory<byte> body)
    {
        if (body.IsEmpty) throw ApiException.Invalid("the request body is empty; send a JSON object", null);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException ex)
        {
            throw ApiException.Invalid($"the request body is not valid JSON: {ex.Message}", null);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            string kind = JsonFields.Describe(doc.RootElement);
            doc.Dispose();
            throw ApiException.Invalid($"the request body must be a JSON object, got {kind}", null);
        }
        return doc;
    }
}
