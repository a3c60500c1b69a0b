// quantsharp serve: an OpenAI-compatible HTTP server over one model, until Ctrl-C or SIGTERM.
using System.CommandLine;
using QuantSharp.Server;

namespace QuantSharp.Cli.Commands;

internal static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var port = new Option<int>("--port") { Description = "TCP port (0: a free one)", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to listen on: an IP address or localhost", DefaultValueFactory = _ => "127.0.0.1" };
        var maxConcurrent = new Option<int>("--max-concurrent") { Description = "Generations that run at once", DefaultValueFactory = _ => 1 };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a slot; beyond them the server answers 503", DefaultValueFactory = _ => 16 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens a chat completion generates when the request sets no max_tokens", DefaultValueFactory = _ => 256 };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models)")
        {
            model, port, host, maxConcurrent, queue, maxTokens, threads, tokenizer,
        };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            var options = new OpenAiServerOptions
            {
                Host = r.GetValue(host)!,
                Port = r.GetValue(port),
                MaxConcurrent = r.GetValue(maxConcurrent),
                QueueLength = r.GetValue(queue),
                DefaultMaxTokens = r.GetValue(maxTokens),
            };
            // Every option is checked before the model is mapped.
            options.Validate();
            var execution = CommandRunner.Execution(r.GetValue(threads));
            using var m = QuantSharpModel.Load(r.GetValue(model)!, execution, r.GetValue(tokenizer));
            return ServeAsync(m, options).GetAwaiter().GetResult();
        }));
        return cmd;
    }

    private static async Task<int> ServeAsync(QuantSharpModel model, OpenAiServerOptions options)
    {
        OpenAiServer server;
        try
        {
            server = await OpenAiServer.StartAsync(model, options);
        }
        catch (IOException ex)
        {
            // Kestrel reports a taken port as an IOException whose inner exception says why.
            throw new IOException($"--host {options.Host} --port {options.Port}: cannot listen: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
        await using (server)
        {
            // Scripts and tests read this line for the address (port 0 picks a free one).
            Console.Out.WriteLine($"quantsharp serve: {server.ModelId} on {server.Address} (max {options.MaxConcurrent} at once, queue {options.QueueLength}); Ctrl-C stops");
            Console.Out.Flush();
            await server.WaitForShutdownAsync();
            Console.Error.WriteLine($"quantsharp serve: stopped ({server.Statistics})");
        }
        return 0;
    }
}
