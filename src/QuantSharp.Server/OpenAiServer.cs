// The OpenAI-compatible HTTP server (`quantsharp serve`): Kestrel + minimal API endpoints over one loaded model.
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace QuantSharp.Server;

/// <summary>
/// Serves one <see cref="QuantSharpModel"/> over HTTP with the OpenAI API's shapes: <c>POST /v1/chat/completions</c>
/// (through the model's <see cref="QuantSharpChatClient"/>, streaming as server-sent events), <c>POST /v1/completions</c>
/// (plain prompt) and <c>GET /v1/models</c>. At most <see cref="OpenAiServerOptions.MaxConcurrent"/> generations run at
/// once and <see cref="OpenAiServerOptions.QueueLength"/> wait; more get 503. Bad requests get 400 with OpenAI's error
/// body; a client that disconnects cancels its generation. The model must outlive the server.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrencyGate _gate;

    private OpenAiServer(WebApplication app, ConcurrencyGate gate, string modelId, ServerStatistics statistics)
    {
        _app = app;
        _gate = gate;
        ModelId = modelId;
        Statistics = statistics;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        Address = new Uri(addresses?.FirstOrDefault() ?? throw new InvalidOperationException("Kestrel reported no address"));
    }

    /// <summary>The address the server listens on (with the actual port when 0 was asked), e.g. http://127.0.0.1:8080/.</summary>
    public Uri Address { get; }

    /// <summary>The model id reported in answers and by /v1/models (the model's file or folder name).</summary>
    public string ModelId { get; }

    /// <summary>How requests ended so far.</summary>
    public ServerStatistics Statistics { get; }

    /// <summary>Generations running now.</summary>
    public int Running => _gate.Running;

    /// <summary>Requests waiting for a slot now.</summary>
    public int Queued => _gate.Queued;

    /// <summary>Starts listening; returns once the port is bound.</summary>
    /// <param name="model">The model to serve (owned by the caller; must outlive the server).</param>
    /// <param name="options">Address, limits, defaults; null: the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<OpenAiServer> StartAsync(QuantSharpModel model, OpenAiServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OpenAiServerOptions();
        options.Validate();
        var client = model.AsChatClient(new QuantSharpChatClientOptions { DefaultMaxOutputTokens = options.DefaultMaxTokens });
        string modelId = client.Metadata.DefaultModelId ?? "model";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        // Quiet by default: the CLI prints its own lines; errors inside the server still reach stderr.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Error);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            var ip = string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.Parse(options.Host);
            k.Listen(ip, options.Port);
        });
        var app = builder.Build();

        var statistics = new ServerStatistics();
        var gate = new ConcurrencyGate(options.MaxConcurrent, options.QueueLength);
        var runner = new EndpointRunner(gate, statistics, options.MaxRequestBytes, app.Logger);
        var chat = new ChatCompletionsEndpoint(client, modelId);
        var completions = new CompletionsEndpoint(model, modelId);

        app.MapPost("/v1/chat/completions", (RequestDelegate)(ctx => runner.HandleAsync(ctx, b => ChatCompletionRequest.Parse(b), chat.RunAsync, "messages")));
        app.MapPost("/v1/completions", (RequestDelegate)(ctx => runner.HandleAsync(ctx, b => CompletionRequest.Parse(b), completions.RunAsync, "prompt")));
        app.MapGet("/v1/models", (RequestDelegate)(ctx => WriteJsonAsync(ctx, 200, OpenAiJson.Models(modelId, created))));
        app.MapGet("/v1/models/{id}", (RequestDelegate)(ctx =>
            (string?)ctx.Request.RouteValues["id"] == modelId
                ? WriteJsonAsync(ctx, 200, OpenAiJson.ModelObject(modelId, created))
                : EndpointRunner.WriteErrorAsync(ctx, new ApiException(404, $"The model '{ctx.Request.RouteValues["id"]}' does not exist; this server runs '{modelId}'", "invalid_request_error", "model", "model_not_found"))));
        // As OpenAI answers an unknown path: 404 with an error body (a known path with the wrong method stays a 405).
        app.MapFallback((RequestDelegate)(ctx => EndpointRunner.WriteErrorAsync(ctx,
            new ApiException(404, $"Unknown request URL: {ctx.Request.Method} {ctx.Request.Path}", "invalid_request_error"))));

        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            gate.Dispose();
            throw;
        }
        return new OpenAiServer(app, gate, modelId, statistics);
    }

    /// <summary>Completes when the host shuts down (Ctrl-C, SIGTERM, <see cref="StopAsync"/>).</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops listening; running generations are cancelled through their request tokens.</summary>
    /// <param name="cancellationToken">Makes the stop less graceful.</param>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Stops and releases the server (not the model).</summary>
    public async ValueTask DisposeAsync()
    {
        try { await _app.StopAsync(); }
        finally
        {
            await _app.DisposeAsync();
            _gate.Dispose();
        }
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, byte[] json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(json, context.RequestAborted);
    }
}
