// quantsharp serve driven by real OpenAI clients: same text as the IChatClient, streaming, completions, 503s, disconnects.
#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental by the OpenAI package.
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using QuantSharp.Server;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace QuantSharp.Tests.Serve;

[Trait("Category", "RealModel")]
public sealed class OpenAiServerTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static AiChatMessage[] User(string text) => [new(AiChatRole.User, text)];

    [Fact]
    public async Task ChatCompletionEqualsTheChatClientsAnswer()
    {
        var chat = ServerFixture.OpenAi(f.StoriesServer).GetChatClient(f.StoriesServer.ModelId);
        var local = await f.Stories.AsChatClient().GetResponseAsync(User("Once upon a time"), new ChatOptions { MaxOutputTokens = 24, Temperature = 0.8f, Seed = 5 });

        ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")],
            new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0.8f, Seed = 5 });
        Assert.Equal(local.Text, c.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, c.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, c.Role);
        Assert.Equal(f.StoriesServer.ModelId, c.Model);
        Assert.Equal(local.Usage!.InputTokenCount, c.Usage.InputTokenCount);
        Assert.Equal(24, c.Usage.OutputTokenCount);
        Assert.Equal(c.Usage.InputTokenCount + 24, c.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task StreamedChatCompletionEqualsTheChatClientsAnswer()
    {
        var chat = ServerFixture.OpenAi(f.StoriesServer).GetChatClient(f.StoriesServer.ModelId);
        var local = await f.Stories.AsChatClient().GetResponseAsync(User("Lily and Ben"), new ChatOptions { MaxOutputTokens = 20, Temperature = 0.7f, TopP = 0.9f, Seed = 9 });

        var text = new StringBuilder();
        int updates = 0;
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage("Lily and Ben")],
                           new ChatCompletionOptions { MaxOutputTokenCount = 20, Temperature = 0.7f, TopP = 0.9f, Seed = 9 }))
        {
            updates++;
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
            finish ??= u.FinishReason;
            usage ??= u.Usage;
        }
        Assert.Equal(local.Text, text.ToString());
        Assert.True(updates > 3, $"{updates} updates");
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(20, usage.OutputTokenCount);
        Assert.Equal(local.Usage!.InputTokenCount, usage.InputTokenCount);

        // Microsoft.Extensions.AI.OpenAI's IChatClient over the same endpoint: the same text, streamed and not.
        IChatClient remote = ServerFixture.OpenAi(f.StoriesServer).GetChatClient(f.StoriesServer.ModelId).AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 20, Temperature = 0.7f, TopP = 0.9f, Seed = 9 };
        Assert.Equal(local.Text, (await remote.GetResponseAsync(User("Lily and Ben"), options)).Text);
        var streamed = await remote.GetStreamingResponseAsync(User("Lily and Ben"), options).ToChatResponseAsync();
        Assert.Equal(local.Text, streamed.Text);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, streamed.FinishReason);
    }

    [Fact]
    public async Task StopSequenceAndSystemMessageMatchTheChatClient()
    {
        var chat = ServerFixture.OpenAi(f.StoriesServer).GetChatClient(f.StoriesServer.ModelId);
        AiChatMessage[] conversation = [new(AiChatRole.System, "Tom"), new(AiChatRole.User, "had a ball")];
        var full = await f.Stories.AsChatClient().GetResponseAsync(conversation, new ChatOptions { MaxOutputTokens = 32 });
        string stop = full.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        var local = await f.Stories.AsChatClient().GetResponseAsync(conversation, new ChatOptions { MaxOutputTokens = 32, StopSequences = [stop] });
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 32 };
        options.StopSequences.Add(stop);
        ChatCompletion c = await chat.CompleteChatAsync([new SystemChatMessage("Tom"), new UserChatMessage("had a ball")], options);
        Assert.Equal(local.Text, c.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, c.FinishReason);
    }

    [Fact]
    public async Task CompletionsEndpointEqualsGenerateStreamedAndNot()
    {
        var expected = f.Stories.Generate("The dog", new GenerationOptions { MaxTokens = 12, Temperature = 0.9f, Seed = 4 });
        string body = """{"model":"any","prompt":"The dog","max_tokens":12,"temperature":0.9,"seed":4}""";
        using var r = await f.Http.PostAsync(new Uri(f.StoriesServer.Address, "v1/completions"), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal("text_completion", doc.RootElement.GetProperty("object").GetString());
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal(expected.Text, choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(expected.PromptTokens, doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(12, doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        string streamBody = """{"prompt":["The dog"],"max_tokens":12,"temperature":0.9,"seed":4,"stream":true,"stream_options":{"include_usage":true}}""";
        using var s = await f.Http.PostAsync(new Uri(f.StoriesServer.Address, "v1/completions"), new StringContent(streamBody, Encoding.UTF8, "application/json"));
        Assert.Equal("text/event-stream", s.Content.Headers.ContentType!.MediaType);
        var events = (await s.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Equal(expected.Text, string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(12, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task ModelsListsTheServedModel()
    {
        var models = (await ServerFixture.OpenAi(f.StoriesServer).GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal("stories260K.bin", Assert.Single(models).Id);
        using var missing = await f.Http.GetAsync(new Uri(f.StoriesServer.Address, "v1/models/nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var unknown = await f.Http.GetAsync(new Uri(f.StoriesServer.Address, "v2/x"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("Unknown request URL", await unknown.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// A long generation holds sotu's one slot; 32 concurrent requests then arrive: four wait in the queue, 28 get 503
    /// at once; when the long one's client disconnects, the four run. None is lost, none is a 500.
    /// </summary>
    [Fact]
    public async Task ThirtyTwoConcurrentRequestsCompleteOrGet503()
    {
        var server = f.SotuServer;
        var before = Snapshot(server);
        var (blocker, blockerCts) = await StartLongStreamAsync(server);
        var chat = ServerFixture.OpenAi(server).GetChatClient(server.ModelId);
        var requests = Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
        {
            try
            {
                ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage($"Request {i}")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
                Assert.False(string.IsNullOrEmpty(c.Id));
                return 200;
            }
            catch (ClientResultException ex)
            {
                return ex.Status;
            }
        })).ToList();
        // The 28 refusals come back at once; the 4 queued ones wait for the slot.
        await WaitUntil(() => server.Statistics.Rejected - before.Rejected == 28 && server.Queued == 4, "28 rejected and 4 queued");
        blockerCts.Cancel();
        blocker.Dispose();
        int[] statuses = await Task.WhenAll(requests);
        Assert.Equal(4, statuses.Count(s => s == 200));
        Assert.Equal(28, statuses.Count(s => s == 503));
        Assert.Equal(32, statuses.Length);
        await WaitUntil(() => server.Running == 0 && server.Queued == 0, "the slot freed");
        Assert.Equal(before.Completed + 4, server.Statistics.Completed);
        Assert.Equal(before.Cancelled + 1, server.Statistics.Cancelled);
        Assert.Equal(before.Failed, server.Statistics.Failed);
    }

    [Fact]
    public async Task ADisconnectingClientFreesItsSlot()
    {
        var server = f.SotuServer;
        var before = Snapshot(server);
        var (blocker, cts) = await StartLongStreamAsync(server);
        Assert.Equal(1, server.Running);
        cts.Cancel();
        blocker.Dispose();
        // The generation is cancelled (not run to its 1000 tokens) and the slot comes back.
        await WaitUntil(() => server.Running == 0, "the slot freed");
        Assert.Equal(before.Cancelled + 1, server.Statistics.Cancelled);
        Assert.Equal(before.Completed, server.Statistics.Completed);
        ChatCompletion next = await ServerFixture.OpenAi(server).GetChatClient(server.ModelId)
            .CompleteChatAsync([new UserChatMessage("The president said")], new ChatCompletionOptions { MaxOutputTokenCount = 4 });
        Assert.Equal(4, next.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task TwoHundredMalformedBodiesEachGet400WithTheErrorBody()
    {
        var server = f.StoriesServer;
        var before = Snapshot(server);
        var bodies = MalformedRequests.Generate(200, seed: 13);
        Assert.Equal(200, bodies.Count);
        foreach (var (endpoint, body, what) in bodies)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var r = await f.Http.PostAsync(new Uri(server.Address, endpoint), content);
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)r.StatusCode} {text}");
            Assert.Equal("application/json", r.Content.Headers.ContentType!.MediaType);
            using var doc = JsonDocument.Parse(text);
            var error = doc.RootElement.GetProperty("error");
            Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), what);
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            Assert.True(error.GetProperty("param").ValueKind is JsonValueKind.String or JsonValueKind.Null, what);
            Assert.Equal(JsonValueKind.Null, error.GetProperty("code").ValueKind);
        }
        Assert.Equal(before.Invalid + 200, server.Statistics.Invalid);
        Assert.Equal(before.Failed, server.Statistics.Failed);
        Assert.Equal(before.Completed, server.Statistics.Completed);
    }

    [Fact]
    public async Task APromptLongerThanTheContextIsA400NamingMessages()
    {
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 200));
        string body = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = prompt } }, max_tokens = 4, stream = true });
        using var r = await f.Http.PostAsync(new Uri(f.StoriesServer.Address, "v1/chat/completions"), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal("messages", doc.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("context", doc.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>A streamed 1000-token generation on sotu whose first chunk has arrived (so it holds a slot).</summary>
    private async Task<(HttpResponseMessage Response, CancellationTokenSource Cts)> StartLongStreamAsync(OpenAiServer server)
    {
        var cts = new CancellationTokenSource();
        // Sampled (seed 1): greedy decoding from this prompt reaches EOS after ~60 tokens, this one runs to the limit.
        string body = """{"messages":[{"role":"user","content":"The president said"}],"max_tokens":1000,"temperature":0.8,"seed":1,"stream":true}""";
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Address, "v1/chat/completions")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        var response = await f.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        var reader = new StreamReader(stream);
        for (int contentChunks = 0; contentChunks < 2;)
        {
            string? line = await reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line.Contains("\"content\":\"") && !line.Contains("\"content\":\"\"")) contentChunks++;
        }
        return (response, cts);
    }

    private sealed record Counts(long Completed, long Rejected, long Invalid, long Cancelled, long Failed);

    private static Counts Snapshot(OpenAiServer server)
    {
        var s = server.Statistics;
        return new Counts(s.Completed, s.Rejected, s.Invalid, s.Cancelled, s.Failed);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 20 s for {what}");
            await Task.Delay(10);
        }
    }
}
