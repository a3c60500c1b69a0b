// POST /v1/completions: a plain prompt continued as `quantsharp run -p` would (no chat template).
using Microsoft.AspNetCore.Http;

namespace QuantSharp.Server;

/// <summary>Answers a validated text completion with the model's generation loop.</summary>
internal sealed class CompletionsEndpoint(QuantSharpModel model, string modelId)
{
    public async Task RunAsync(CompletionRequest request, HttpContext context, CancellationToken cancellationToken)
    {
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var loop = model.StartGeneration(request.Prompt, request.ToGenerationOptions());
        if (!request.Sampling.Stream)
        {
            // The engine is synchronous and CPU-bound: off the request thread.
            await Task.Run(() => { foreach (var _ in loop.Run(cancellationToken)) { } }, cancellationToken);
            byte[] json = OpenAiJson.Completion(id, created, modelId, loop.Text, OpenAiJson.FinishReason(loop.FinishReason), new TokenUsage(loop.PromptTokenCount, loop.Tokens.Count));
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.Body.WriteAsync(json, cancellationToken);
            return;
        }

        bool usageNull = request.Sampling.IncludeUsage;
        // Pulled one piece at a time: a token is computed only when the previous one has been written.
        using var pieces = loop.Run(cancellationToken).GetEnumerator();
        bool more = await Task.Run(pieces.MoveNext, cancellationToken);
        ServerSentEvents.Start(context.Response);
        for (; more; more = await Task.Run(pieces.MoveNext, cancellationToken))
            await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.Completion(id, created, modelId, pieces.Current, null, null, usageNull), cancellationToken);
        await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.Completion(id, created, modelId, "", OpenAiJson.FinishReason(loop.FinishReason), null, usageNull), cancellationToken);
        if (request.Sampling.IncludeUsage)
            await ServerSentEvents.WriteAsync(context.Response, OpenAiJson.UsageChunk(id, "text_completion", created, modelId, new TokenUsage(loop.PromptTokenCount, loop.Tokens.Count)), cancellationToken);
        await ServerSentEvents.WriteDoneAsync(context.Response, cancellationToken);
    }
}
