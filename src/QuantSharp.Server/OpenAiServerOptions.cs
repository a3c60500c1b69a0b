// Settings of `quantsharp serve`: where to listen, how many generations at once, how many may wait.
using System.Net;

namespace QuantSharp.Server;

/// <summary>Options of <see cref="OpenAiServer"/>.</summary>
public sealed record OpenAiServerOptions
{
    /// <summary>Address to listen on: an IP address or <c>localhost</c> (default 127.0.0.1).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port (default 8080; 0 picks a free one, see <see cref="OpenAiServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Generations that run at once (default 1: one generation already uses every kernel thread).</summary>
    public int MaxConcurrent { get; init; } = 1;

    /// <summary>Requests that may wait for a slot (default 16); beyond it the server answers 503.</summary>
    public int QueueLength { get; init; } = 16;

    /// <summary>Largest request body accepted, in bytes (default 4 MiB).</summary>
    public long MaxRequestBytes { get; init; } = 4 << 20;

    /// <summary>Tokens a chat completion generates when the request sets no max_tokens (default 256).</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>Checks every field; throws <see cref="ArgumentException"/> naming the option.</summary>
    public void Validate()
    {
        if (!string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(Host, out _))
            throw new ArgumentException($"--host: '{Host}' is not an IP address or 'localhost'");
        if (Port is < 0 or > 65535) throw new ArgumentException($"--port must be in 0…65535, got {Port}");
        if (MaxConcurrent < 1) throw new ArgumentException($"--max-concurrent must be ≥ 1, got {MaxConcurrent}");
        if (QueueLength < 0) throw new ArgumentException($"--queue must be ≥ 0, got {QueueLength}");
        if (MaxRequestBytes < 1024) throw new ArgumentException($"MaxRequestBytes must be ≥ 1024, got {MaxRequestBytes}");
        if (DefaultMaxTokens < 1) throw new ArgumentException($"--max-tokens must be ≥ 1, got {DefaultMaxTokens}");
    }
}
