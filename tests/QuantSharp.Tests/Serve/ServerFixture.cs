// Two running servers for the serve tests: stories260K (answers compared with the IChatClient) and sotu-llama-30m
// (slow enough per token to hold a slot while the concurrency and disconnect tests watch the queue).
using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using QuantSharp.Server;

namespace QuantSharp.Tests.Serve;

public sealed class ServerFixture : IAsyncLifetime
{
    public static string StoriesPath => SharedData.Model("stories260K", "stories260K.bin");
    public static string SotuPath => SharedData.Model("sotu-llama-30m");

    public QuantSharpModel Stories { get; private set; } = null!;
    public QuantSharpModel Sotu { get; private set; } = null!;

    /// <summary>stories260K: 2 at once, queue 8.</summary>
    public OpenAiServer StoriesServer { get; private set; } = null!;

    /// <summary>sotu-llama-30m: --max-concurrent 1 --queue 4.</summary>
    public OpenAiServer SotuServer { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public async Task InitializeAsync()
    {
        Stories = QuantSharpModel.Load(StoriesPath);
        Sotu = QuantSharpModel.Load(SotuPath);
        // Port 0: the kernel picks a free port, the server reports it (no race between choosing and binding).
        StoriesServer = await OpenAiServer.StartAsync(Stories, new OpenAiServerOptions { Port = 0, MaxConcurrent = 2, QueueLength = 8 });
        SotuServer = await OpenAiServer.StartAsync(Sotu, new OpenAiServerOptions { Port = 0, MaxConcurrent = 1, QueueLength = 4 });
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await StoriesServer.DisposeAsync();
        await SotuServer.DisposeAsync();
        Stories.Dispose();
        Sotu.Dispose();
    }

    /// <summary>The official OpenAI client pointed at <paramref name="server"/>, without retries (a 503 must surface, not be retried).</summary>
    public static OpenAIClient OpenAi(OpenAiServer server) => new(new ApiKeyCredential("not-checked"), new OpenAIClientOptions
    {
        Endpoint = new Uri(server.Address, "v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });
}
