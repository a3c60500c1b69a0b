// What every generating endpoint does around its work: read and validate the body, take a slot, map failures to errors.
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace QuantSharp.Server;

/// <summary>
/// Runs one request through the common steps in order — read the body (bounded), parse it (a 400 names the field;
/// malformed requests never take a slot), take a slot or answer 503 at once, run the endpoint — and turns every
/// outcome into the right status: 4xx with OpenAI's error body for bad requests, 503 when busy, nothing when the client
/// went away (its generation is cancelled through <see cref="HttpContext.RequestAborted"/> and the slot freed), 500
/// only for a fault of the server itself.
/// </summary>
internal sealed class EndpointRunner(ConcurrencyGate gate, ServerStatistics statistics, long maxRequestBytes, ILogger logger)
{
    /// <summary>Handles one request.</summary>
    /// <typeparam name="T">The parsed request.</typeparam>
    /// <param name="context">The HTTP exchange.</param>
    /// <param name="parse">Body → request (pure; throws <see cref="ApiException"/>).</param>
    /// <param name="run">Generates and writes the answer.</param>
    /// <param name="promptParam">The field an engine-side refusal of the prompt names (messages or prompt).</param>
    public async Task HandleAsync<T>(HttpContext context, Func<ReadOnlyMemory<byte>, T> parse, Func<T, HttpContext, CancellationToken, Task> run, string promptParam)
    {
        var aborted = context.RequestAborted;
        try
        {
            T request = parse(await ReadBodyAsync(context.Request, aborted));
            using var lease = await gate.TryEnterAsync(aborted)
                ?? throw new ApiException(503, $"the server is busy: {gate.MaxConcurrent} generation(s) running and {gate.QueueLength} waiting; retry later",
                    "server_error", null, "server_busy");
            await run(request, context, aborted);
            statistics.CountCompleted();
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            statistics.CountCancelled();
        }
        catch (ApiException ex)
        {
            if (ex.StatusCode == 503) statistics.CountRejected(); else statistics.CountInvalid();
            await WriteErrorAsync(context, ex);
        }
        catch (BadHttpRequestException ex) when (!aborted.IsCancellationRequested)
        {
            // Kestrel's own limits (body too large, a truncated chunked body): the client's fault.
            statistics.CountInvalid();
            await WriteErrorAsync(context, new ApiException(ex.StatusCode, ex.Message, "invalid_request_error"));
        }
        catch (Exception) when (aborted.IsCancellationRequested)
        {
            // A write to a closed connection (IOException, ConnectionResetException): the client went away.
            statistics.CountCancelled();
        }
        catch (ArgumentException ex)
        {
            // The engine's checks that need the model (a prompt longer than the context, a template refusing the roles).
            statistics.CountInvalid();
            await WriteErrorAsync(context, ApiException.Invalid(ex.Message, promptParam));
        }
        catch (Exception ex)
        {
            statistics.CountFailed();
            logger.LogError(ex, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteErrorAsync(context, new ApiException(500, $"the server failed: {ex.Message}", "server_error"));
        }
    }

    private async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxRequestBytes)
            throw new ApiException(413, $"the request body has {request.ContentLength} bytes; at most {maxRequestBytes} are accepted", "invalid_request_error");
        using var buffer = new MemoryStream();
        var chunk = new byte[16 << 10];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + n > maxRequestBytes)
                throw new ApiException(413, $"the request body exceeds {maxRequestBytes} bytes", "invalid_request_error");
            buffer.Write(chunk, 0, n);
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>The error as a JSON response, or as a last SSE event when a stream had already started.</summary>
    public static async Task WriteErrorAsync(HttpContext context, ApiException error)
    {
        try
        {
            if (!context.Response.HasStarted)
            {
                context.Response.StatusCode = error.StatusCode;
                context.Response.ContentType = "application/json; charset=utf-8";
                if (error.StatusCode == 503) context.Response.Headers.RetryAfter = "1";
                await context.Response.Body.WriteAsync(ApiErrorBody.ToUtf8(error), context.RequestAborted);
            }
            else
            {
                await ServerSentEvents.WriteAsync(context.Response, ApiErrorBody.ToUtf8(error), context.RequestAborted);
            }
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // Nobody is listening any more.
        }
    }
}
