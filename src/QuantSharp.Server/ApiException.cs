// An OpenAI-style API error (status, message, type, offending field) raised by validation and turned into the error body.
namespace QuantSharp.Server;

/// <summary>
/// A request the server refuses, with what the OpenAI API reports for it: HTTP status, message, error type and the
/// request field at fault. <see cref="ApiErrorBody"/> writes it as <c>{"error":{"message","type","param","code"}}</c>.
/// </summary>
public sealed class ApiException : Exception
{
    /// <summary>Creates an error.</summary>
    /// <param name="statusCode">HTTP status (400 for bad requests, 503 when busy, …).</param>
    /// <param name="message">What is wrong, naming the field.</param>
    /// <param name="type">OpenAI error type (<c>invalid_request_error</c>, <c>server_error</c>, …).</param>
    /// <param name="param">The request field at fault (e.g. <c>messages[0].content</c>), or null.</param>
    /// <param name="code">A machine-readable code, or null.</param>
    public ApiException(int statusCode, string message, string type, string? param = null, string? code = null) : base(message)
    {
        StatusCode = statusCode;
        Type = type;
        Param = param;
        Code = code;
    }

    /// <summary>HTTP status code.</summary>
    public int StatusCode { get; }

    /// <summary>OpenAI error type.</summary>
    public string Type { get; }

    /// <summary>Request field at fault, or null.</summary>
    public string? Param { get; }

    /// <summary>Machine-readable code, or null.</summary>
    public string? Code { get; }

    /// <summary>A 400 <c>invalid_request_error</c> naming <paramref name="param"/>.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="param">The field at fault, or null when the body as a whole is bad.</param>
    public static ApiException Invalid(string message, string? param) => new(400, message, "invalid_request_error", param);
}
