// A validated POST /v1/completions body: a plain prompt (no chat template) and its generation settings.
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>
/// What a (legacy) text completion asks for: one prompt continued as <c>quantsharp run -p</c> would. <see cref="Parse"/>
/// is pure: a runnable request or a 400 <see cref="ApiException"/> naming the field.
/// </summary>
public sealed record CompletionRequest
{
    /// <summary>Tokens generated when the request sets no <c>max_tokens</c> (OpenAI's default for this endpoint).</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>The prompt text.</summary>
    public required string Prompt { get; init; }

    /// <summary>Length, sampling, stop and streaming settings.</summary>
    public required SamplingRequest Sampling { get; init; }

    /// <summary>Parses and checks a request body.</summary>
    /// <param name="body">UTF-8 JSON.</param>
    public static CompletionRequest Parse(ReadOnlyMemory<byte> body)
    {
        using var doc = RequestJson.ParseObject(body);
        var root = doc.RootElement;
        if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null)
            throw ApiException.Invalid("'prompt' is a required property", "prompt");
        string prompt = p.ValueKind switch
        {
            JsonValueKind.String => p.GetString()!,
            // OpenAI also takes a list of prompts (one choice each) or token ids; one string in a list is the same request.
            JsonValueKind.Array when p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String => p[0].GetString()!,
            JsonValueKind.Array => throw ApiException.Invalid("'prompt' must be a string or a list of exactly one string (batches and token ids are not supported)", "prompt"),
            _ => throw ApiException.Invalid($"'prompt' must be a string, got {JsonFields.Describe(p)}", "prompt"),
        };
        return new CompletionRequest { Prompt = prompt, Sampling = SamplingRequest.Parse(root, chat: false) };
    }

    /// <summary>The engine's generation options for this request.</summary>
    public GenerationOptions ToGenerationOptions() => new()
    {
        MaxTokens = Sampling.MaxTokens ?? DefaultMaxTokens,
        Temperature = Sampling.Temperature ?? 0,
        TopP = Sampling.TopP ?? 1,
        TopK = Sampling.TopK ?? 0,
        Seed = Sampling.Seed ?? 0,
        StopSequences = Sampling.Stop,
    };
}
