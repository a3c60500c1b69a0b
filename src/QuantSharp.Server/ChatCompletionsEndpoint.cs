// POST /v1/chat/completions over the IChatClient: one JSON answer, or SSE chunks ending with data: [DONE].
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;

namespace QuantSharp.Server;

/// <summary>Answers a validated chat completion with the chat client (the model's chat template, sampling, usage).</summary>
internal sealed class ChatCompletionsEndpoint(IChatClient client, string modelId)
{
    public async Task RunAsync(ChatCompletionRequest request, HttpContext context, CancellationToken cancellationToken)
    {
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var options = request.ToChatOptions();
        if (!request.Sampling.Stream)
        {
            var response = await client.GetResponseAsync(request.Messages, options, cancellationToken);
            byte[] json = OpenAiJson.ChatCompletion(id, created, modelId, response.Text, Finish(response.FinishReason), Usage(response.Usage));
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.Body.WriteAsync(json, cancellationToken);
            return;
        }

        bool usageNull = request.Sampling.IncludeUsage;
        await using var updates = client.GetStreamingResponseAsync(request.Messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        // The first update is computed before the headers go out, so a prompt the engine refuses (longer than the
        // context, a template that rejects the roles) is still a 400 rather than an error inside a 200 stream.
        bool more = await updates.MoveNextAsync();
        ServerSentEvents.Start(context.Response);
        await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.ChatChunk(id, created, modelId, "assistant", "", null, usageNull), cancellationToken);
        string finish = "stop";
        TokenUsage usage = default;
        for (; more; more = await updates.MoveNextAsync())
        {
            var u = updates.Current;
            if (u.Text is { Length: > 0 } text)
                await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.ChatChunk(id, created, modelId, null, text, null, usageNull), cancellationToken);
            if (u.FinishReason is { } f) finish = Finish(f);
            if (u.Contents.OfType<UsageContent>().FirstOrDefault() is { } uc) usage = Usage(uc.Details);
        }
        await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.ChatChunk(id, created, modelId, null, null, finish, usageNull), cancellationToken);
        if (request.Sampling.IncludeUsage)
            await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.UsageChunk(id, "chat.completion.chunk", created, modelId, usage), cancellationToken);
        await ServerSentEvents.WriteDoneAsync(context.Response, cancellationToken);
    }

    private static string Finish(ChatFinishReason? reason) => reason == ChatFinishReason.Length ? "length" : "stop";

    private static TokenUsage Usage(UsageDetails? u) => new((int)(u?.InputTokenCount ?? 0), (int)(u?.OutputTokenCount ?? 0));
}
