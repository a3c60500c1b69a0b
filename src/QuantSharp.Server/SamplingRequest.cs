// The fields /v1/chat/completions and /v1/completions share (length, sampling, stop, streaming), parsed and checked.
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>
/// Generation settings of a request. Null fields take the server's defaults (greedy, seed 0, the endpoint's
/// default length). Fields the engine cannot honour (n ≠ 1, penalties, logprobs, tools, …) are refused with a
/// 400 rather than silently ignored; fields that do not change the output (<c>user</c>, <c>metadata</c>, …) are ignored.
/// </summary>
public sealed record SamplingRequest
{
    /// <summary>Most stop sequences per request (as OpenAI).</summary>
    public const int MaxStopSequences = 4;

    /// <summary>The <c>model</c> field as sent (any name is accepted: the server has one model).</summary>
    public string? Model { get; init; }

    /// <summary><c>max_tokens</c> (chat also <c>max_completion_tokens</c>), ≥ 1.</summary>
    public int? MaxTokens { get; init; }

    /// <summary><c>temperature</c> in [0, 2]; 0 is greedy.</summary>
    public float? Temperature { get; init; }

    /// <summary><c>top_p</c> in (0, 1].</summary>
    public float? TopP { get; init; }

    /// <summary><c>top_k</c> ≥ 0 (an extension many OpenAI-compatible servers accept; 0 = off).</summary>
    public int? TopK { get; init; }

    /// <summary><c>seed</c> (a 32-bit integer: the engine's sampler seed).</summary>
    public int? Seed { get; init; }

    /// <summary><c>stop</c>: up to four non-empty strings.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary><c>stream</c>: answer as server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>: a last chunk with the token counts.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>Parses the shared fields of <paramref name="root"/>.</summary>
    /// <param name="root">The request object.</param>
    /// <param name="chat">Chat endpoint (accepts <c>max_completion_tokens</c>, boolean <c>logprobs</c>).</param>
    public static SamplingRequest Parse(JsonElement root, bool chat)
    {
        long? maxTokens = JsonFields.Integer(root, "max_tokens", 1, int.MaxValue);
        if (chat && JsonFields.Integer(root, "max_completion_tokens", 1, int.MaxValue) is { } mct)
        {
            if (maxTokens is { } mt && mt != mct)
                throw ApiException.Invalid($"'max_tokens' ({mt}) and 'max_completion_tokens' ({mct}) disagree; send one of them", "max_completion_tokens");
            maxTokens = mct;
        }
        bool stream = JsonFields.Boolean(root, "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Object(root, "stream_options") is { } so)
        {
            if (!stream) throw ApiException.Invalid("'stream_options' is only allowed when 'stream' is true", "stream_options");
            if (JsonFields.Get(so, "include_usage") is { } iu)
                includeUsage = iu.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw ApiException.Invalid($"'stream_options.include_usage' must be a boolean, got {JsonFields.Describe(iu)}", "stream_options.include_usage"),
                };
        }
        RefuseUnsupported(root, chat);
        return new SamplingRequest
        {
            Model = JsonFields.String(root, "model"),
            MaxTokens = (int?)maxTokens,
            Temperature = (float?)JsonFields.Number(root, "temperature", 0, 2),
            TopP = (float?)JsonFields.Number(root, "top_p", 0, 1, minExclusive: true),
            TopK = (int?)JsonFields.Integer(root, "top_k", 0, int.MaxValue),
            Seed = (int?)JsonFields.Integer(root, "seed", int.MinValue, int.MaxValue),
            Stop = ParseStop(root),
            Stream = stream,
            IncludeUsage = includeUsage,
        };
    }

    private static List<string> ParseStop(JsonElement root)
    {
        if (JsonFields.Get(root, "stop") is not { } v) return [];
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString() is { Length: > 0 } s ? [s] : throw ApiException.Invalid("'stop' must not be an empty string", "stop");
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.Invalid($"'stop' must be a string or an array of strings, got {JsonFields.Describe(v)}", "stop");
        if (v.GetArrayLength() > MaxStopSequences) throw ApiException.Invalid($"'stop' has {v.GetArrayLength()} sequences; at most {MaxStopSequences} are allowed", "stop");
        var list = new List<string>();
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String) throw ApiException.Invalid($"'stop[{i}]' must be a string, got {JsonFields.Describe(e)}", $"stop[{i}]");
            list.Add(e.GetString() is { Length: > 0 } s ? s : throw ApiException.Invalid($"'stop[{i}]' must not be empty", $"stop[{i}]"));
            i++;
        }
        return list;
    }

    /// <summary>Fields whose non-default values would change the answer in ways the engine does not implement.</summary>
    private static void RefuseUnsupported(JsonElement root, bool chat)
    {
        if (JsonFields.Integer(root, "n", 1, 128) is { } n && n != 1) throw ApiException.Invalid($"'n' = {n} is not supported: one choice per request", "n");
        foreach (var penalty in new[] { "presence_penalty", "frequency_penalty" })
            if (JsonFields.Number(root, penalty, -2, 2) is { } p && p != 0) throw ApiException.Invalid($"'{penalty}' is not supported (send 0 or leave it out)", penalty);
        if (JsonFields.Object(root, "logit_bias") is { } lb && lb.EnumerateObject().Any()) throw ApiException.Invalid("'logit_bias' is not supported", "logit_bias");
        if (chat)
        {
            if (JsonFields.Boolean(root, "logprobs") == true) throw ApiException.Invalid("'logprobs' is not supported", "logprobs");
            if (JsonFields.Integer(root, "top_logprobs", 0, 20) is > 0) throw ApiException.Invalid("'top_logprobs' is not supported", "top_logprobs");
            foreach (var name in new[] { "tools", "functions" })
                if (JsonFields.Get(root, name) is { } t && (t.ValueKind != JsonValueKind.Array || t.GetArrayLength() > 0))
                    throw ApiException.Invalid($"'{name}' is not supported: the server does not call tools", name);
            if (JsonFields.Object(root, "response_format") is { } rf && JsonFields.String(rf, "type", "response_format.type") is { } type && type != "text")
                throw ApiException.Invalid($"'response_format.type' = '{type}' is not supported (only 'text')", "response_format.type");
        }
        else
        {
            if (JsonFields.Integer(root, "logprobs", 0, 5) is { } lp) throw ApiException.Invalid($"'logprobs' = {lp} is not supported", "logprobs");
            if (JsonFields.Boolean(root, "echo") == true) throw ApiException.Invalid("'echo' is not supported", "echo");
            if (JsonFields.String(root, "suffix") is { Length: > 0 }) throw ApiException.Invalid("'suffix' is not supported", "suffix");
            if (JsonFields.Integer(root, "best_of", 1, 20) is { } bo && bo != 1) throw ApiException.Invalid($"'best_of' = {bo} is not supported", "best_of");
        }
    }
}
