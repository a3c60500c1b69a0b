// Generates malformed request bodies for the server: truncated JSON, wrong types, bad values, missing fields, garbage.
using System.Text;

namespace QuantSharp.Tests.Serve;

/// <summary>
/// A seeded mix of bodies every one of which the server must refuse with 400: each valid base request is broken in one
/// way (cut short, a field of the wrong type, a value out of range, a required field missing) or replaced by garbage.
/// </summary>
internal static class MalformedRequests
{
    private const string Chat = """{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}""";
    private const string Completion = """{"model":"m","prompt":"Hi","max_tokens":4}""";

    /// <summary>Chat bodies with one field replaced: (field JSON fragment inserted into the base object).</summary>
    private static readonly string[] BadChatFields =
    [
        "\"messages\":\"hello\"", "\"messages\":123", "\"messages\":{}", "\"messages\":null", "\"messages\":[]", "\"messages\":[\"hi\"]",
        "\"messages\":[1]", "\"messages\":[[]]", "\"messages\":[{}]", "\"messages\":[{\"role\":1,\"content\":\"x\"}]",
        "\"messages\":[{\"role\":null,\"content\":\"x\"}]", "\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]",
        "\"messages\":[{\"role\":\"user\"}]", "\"messages\":[{\"role\":\"user\",\"content\":5}]", "\"messages\":[{\"role\":\"user\",\"content\":{}}]",
        "\"messages\":[{\"role\":\"user\",\"content\":[1]}]", "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]", "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":7}]}]",
        "\"messages\":[{\"role\":\"user\",\"content\":\"ok\"},{\"role\":\"system\",\"content\":null}]",
    ];

    /// <summary>Shared fields with a wrong type or an out-of-range value (added to a valid chat or completion body).</summary>
    private static readonly string[] BadSharedFields =
    [
        "\"max_tokens\":-1", "\"max_tokens\":0", "\"max_tokens\":\"10\"", "\"max_tokens\":1.5", "\"max_tokens\":true", "\"max_tokens\":1e30", "\"max_tokens\":[]",
        "\"temperature\":-0.1", "\"temperature\":2.5", "\"temperature\":\"hot\"", "\"temperature\":[]", "\"temperature\":{}", "\"temperature\":1e400",
        "\"top_p\":0", "\"top_p\":1.5", "\"top_p\":-1", "\"top_p\":\"x\"", "\"top_k\":-1", "\"top_k\":0.5", "\"top_k\":\"5\"",
        "\"seed\":\"s\"", "\"seed\":2.5", "\"seed\":1e20", "\"seed\":99999999999", "\"seed\":{}",
        "\"stop\":5", "\"stop\":[1]", "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "\"stop\":\"\"", "\"stop\":[\"\"]", "\"stop\":{}",
        "\"stream\":\"yes\"", "\"stream\":1", "\"stream_options\":{\"include_usage\":true}", "\"stream\":true,\"stream_options\":5",
        "\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}", "\"n\":2", "\"n\":0", "\"n\":\"1\"",
        "\"presence_penalty\":1", "\"frequency_penalty\":-3", "\"frequency_penalty\":\"x\"", "\"logit_bias\":{\"5\":10}", "\"logit_bias\":[]",
        "\"model\":5", "\"model\":[]",
    ];

    private static readonly string[] BadChatOnlyFields =
    [
        "\"max_completion_tokens\":-5", "\"max_completion_tokens\":\"x\"", "\"max_tokens\":4,\"max_completion_tokens\":8", "\"logprobs\":true",
        "\"logprobs\":\"x\"", "\"top_logprobs\":3", "\"tools\":[{\"type\":\"function\"}]", "\"tools\":5", "\"response_format\":{\"type\":\"json_object\"}",
        "\"response_format\":{\"type\":5}", "\"response_format\":\"json\"",
    ];

    private static readonly string[] BadCompletionFields =
    [
        "\"prompt\":5", "\"prompt\":null", "\"prompt\":[]", "\"prompt\":[\"a\",\"b\"]", "\"prompt\":[1,2,3]", "\"prompt\":{}", "\"prompt\":true",
        "\"echo\":true", "\"echo\":\"x\"", "\"suffix\":\"end\"", "\"suffix\":5", "\"best_of\":3", "\"logprobs\":2", "\"logprobs\":true",
    ];

    private static readonly string[] NotObjects = ["[]", "[1,2]", "\"text\"", "42", "null", "true", " ", "", "{", "}", "{\"messages\":", "{'messages':[]}", "{messages:[]}", "{\"a\":1,}", "{\"a\" 1}", "\u00ff\u00fe"];

    /// <summary><paramref name="count"/> (endpoint, body, description) triples, the same for the same seed.</summary>
    public static List<(string Endpoint, byte[] Body, string What)> Generate(int count, int seed)
    {
        var rng = new Random(seed);
        var list = new List<(string, byte[], string)>();
        void Add(string endpoint, string body, string what) => list.Add((endpoint, Encoding.UTF8.GetBytes(body), $"{endpoint} {what}: {body}"));
        // Every listed case once…
        foreach (var field in BadChatFields) Add("v1/chat/completions", Replace(Chat, "messages", field), "bad messages");
        foreach (var field in BadSharedFields) Add("v1/chat/completions", With(Chat, field), "bad field");
        foreach (var field in BadSharedFields.Take(20)) Add("v1/completions", With(Completion, field), "bad field");
        foreach (var field in BadChatOnlyFields) Add("v1/chat/completions", With(Chat, field), "bad chat field");
        foreach (var field in BadCompletionFields) Add("v1/completions", Replace(Completion, "prompt", field), "bad prompt/field");
        foreach (var body in NotObjects) Add(rng.Next(2) == 0 ? "v1/chat/completions" : "v1/completions", body, "not an object");
        // …then truncations of valid bodies (every strict prefix of a JSON object is invalid) and random bytes.
        while (list.Count < count)
        {
            if (rng.Next(4) == 0)
            {
                var bytes = new byte[rng.Next(1, 64)];
                rng.NextBytes(bytes);
                bytes[0] = (byte)'{'; // an object opened …
                bytes[^1] = (byte)'{'; // … and one more opened at the end: never closed, invalid whatever lies between
                list.Add(("v1/chat/completions", bytes, "random bytes"));
                continue;
            }
            bool chat = rng.Next(2) == 0;
            string valid = chat ? With(Chat, "\"temperature\":0.5,\"stop\":[\"x\"]") : Completion;
            Add(chat ? "v1/chat/completions" : "v1/completions", valid[..rng.Next(0, valid.Length)], "truncated");
        }
        return list.Take(count).ToList();
    }

    /// <summary>The base object with <paramref name="field"/> added at the end.</summary>
    private static string With(string json, string field) => json[..^1] + "," + field + "}";

    /// <summary>The base object with the named field replaced by <paramref name="field"/>.</summary>
    private static string Replace(string json, string name, string field)
    {
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        doc.Remove(name);
        return With(doc.ToJsonString(), field);
    }
}
