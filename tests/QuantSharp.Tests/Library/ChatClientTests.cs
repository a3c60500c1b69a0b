// IChatClient over stories260K: same tokens as `quantsharp run`, streaming = non-streaming, concurrency, cancellation, options.
using Microsoft.Extensions.AI;
using QuantSharp.Core.Kernels;
using QuantSharp.Tests.Cli;

namespace QuantSharp.Tests.Library;

[Trait("Category", "RealModel")]
public sealed class ChatClientTests : IDisposable
{
    private static string Stories => SharedData.Model("stories260K", "stories260K.bin");
    private readonly QuantSharpModel _model = QuantSharpModel.Load(Stories);

    public void Dispose() => _model.Dispose();

    private static ChatMessage[] User(string text) => [new(ChatRole.User, text)];

    [Theory]
    [InlineData("Once upon a time", 0f, 0)]
    [InlineData("Lily and Ben went to the park", 0.8f, 1)]
    public async Task SameTextAsQuantsharpRunWithTheSameSeed(string prompt, float temperature, int seed)
    {
        var run = QuantSharpProcess.Run("run", Stories, "-p", prompt, "-n", "48", "--temperature", temperature.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", seed.ToString());
        Assert.Equal(0, run.Code);
        Assert.StartsWith(prompt, run.Out);
        string cliText = run.Out[prompt.Length..].TrimEnd('\n');
        var client = _model.AsChatClient();
        var response = await client.GetResponseAsync(User(prompt), new ChatOptions { MaxOutputTokens = 48, Temperature = temperature, Seed = seed });
        Assert.Equal(cliText, response.Text);
        // The same ids as the library's Generate (the CLI path), and usage counts that add up.
        var direct = _model.Generate(prompt, new GenerationOptions { MaxTokens = 48, Temperature = temperature, Seed = seed });
        Assert.Equal(direct.Text, response.Text);
        Assert.Equal(direct.Tokens.Count, response.Usage!.OutputTokenCount);
        Assert.Equal(_model.Tokenize(prompt).Length, response.Usage.InputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal(direct.FinishReason == GenerationFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
    }

    /// <summary>The same on sotu-llama-30m (a Hugging Face folder, no chat template: the prompt goes in as text), with the
    /// default fp32 KV cache and with the fp16 one (<c>run --kv-cache f16</c> against <see cref="GenerationOptions.KvCache"/>).</summary>
    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public async Task SotuGivesTheSameTextAsQuantsharpRun(string kv)
    {
        const string prompt = "The state of our union is";
        string sotu = SharedData.Model("sotu-llama-30m");
        var run = QuantSharpProcess.Run("run", sotu, "-p", prompt, "-n", "32", "--temperature", "0.7", "--seed", "3", "--kv-cache", kv);
        Assert.True(run.Code == 0, run.Err);
        Assert.StartsWith(prompt, run.Out);
        using var model = QuantSharpModel.Load(sotu);
        var kvType = kv == "f16" ? QuantSharp.Models.KvCacheType.F16 : QuantSharp.Models.KvCacheType.F32;
        var direct = model.Generate(prompt, new GenerationOptions { MaxTokens = 32, Temperature = 0.7f, Seed = 3, KvCache = kvType });
        Assert.Equal(run.Out[prompt.Length..].TrimEnd('\n'), direct.Text);
        if (kvType == QuantSharp.Models.KvCacheType.F32)
        {
            var response = await model.AsChatClient().GetResponseAsync(User(prompt), new ChatOptions { MaxOutputTokens = 32, Temperature = 0.7f, Seed = 3 });
            Assert.Equal(direct.Text, response.Text);
        }
    }

    [Fact]
    public async Task StreamingGivesTheSameTextUsageAndFinishReason()
    {
        var client = _model.AsChatClient();
        var options = new ChatOptions { MaxOutputTokens = 40, Temperature = 0.7f, TopK = 20, TopP = 0.9f, Seed = 3 };
        var whole = await client.GetResponseAsync(User("The cat"), options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(User("The cat"), options)) updates.Add(u);
        var streamed = updates.ToChatResponse();
        Assert.Equal(whole.Text, streamed.Text);
        Assert.Equal(whole.FinishReason, streamed.FinishReason);
        Assert.Equal(whole.Usage!.OutputTokenCount, streamed.Usage!.OutputTokenCount);
        Assert.True(updates.Count > 2);
    }

    [Fact]
    public async Task StopSequenceCutsTheTextAndReportsStop()
    {
        var client = _model.AsChatClient();
        var full = await client.GetResponseAsync(User("Once upon a time"), new ChatOptions { MaxOutputTokens = 60 });
        string stop = full.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        var cut = await client.GetResponseAsync(User("Once upon a time"), new ChatOptions { MaxOutputTokens = 60, StopSequences = [stop] });
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
        var streamed = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(User("Once upon a time"), new ChatOptions { MaxOutputTokens = 60, StopSequences = [stop] })) streamed.Add(u);
        Assert.Equal(cut.Text, streamed.ToChatResponse().Text);
    }

    [Fact]
    public async Task ConcurrentCallersEachGetWhatTheyWouldGetAlone()
    {
        var client = _model.AsChatClient();
        var requests = new[] { ("Once upon a time", 1), ("Tom had a red ball", 2), ("The sun was", 3), ("One day", 4) };
        var alone = new List<string>();
        foreach (var (p, s) in requests)
            alone.Add((await client.GetResponseAsync(User(p), new ChatOptions { MaxOutputTokens = 64, Temperature = 0.9f, Seed = s })).Text);
        var together = await Task.WhenAll(requests.Select(r => Task.Run(async () =>
            (await client.GetResponseAsync(User(r.Item1), new ChatOptions { MaxOutputTokens = 64, Temperature = 0.9f, Seed = r.Item2 })).Text)));
        Assert.Equal(alone, together);
    }

    [Fact]
    public async Task CancellationStopsBeforeTheNextToken()
    {
        var client = _model.AsChatClient();
        using var cts = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync(User("Once upon a time"), new ChatOptions { MaxOutputTokens = 200 }, cts.Token))
            {
                if (u.Text.Length > 0 && ++received == 2) cts.Cancel();
            }
        });
        Assert.Equal(2, received);
        // The library's synchronous stream: no forward step after the cancel.
        using var cts2 = new CancellationTokenSource();
        int pieces = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var _ in _model.GenerateStreaming("Once upon a time", new GenerationOptions { MaxTokens = 200 }, cts2.Token))
                if (++pieces == 3) cts2.Cancel();
        });
        Assert.Equal(3, pieces);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(User("x"), null, new CancellationToken(true)));
    }

    [Fact]
    public void TwoModelsWithDifferentThreadCountsRunTogetherWithTheSameTokens()
    {
        using var one = QuantSharpModel.Load(Stories, new ExecutionOptions { Threads = 1 });
        using var two = QuantSharpModel.Load(Stories, new ExecutionOptions { Threads = 2, Isa = KernelIsa.Auto });
        var options = new GenerationOptions { MaxTokens = 64, Temperature = 0.8f, Seed = 7 };
        var alone = one.Generate("Once upon a time", options);
        var results = new GenerationResult[2];
        Parallel.Invoke(() => results[0] = one.Generate("Once upon a time", options), () => results[1] = two.Generate("Once upon a time", options));
        Assert.Equal(alone.Tokens, results[0].Tokens);
        Assert.Equal(alone.Tokens, results[1].Tokens);
        // The scope is per thread and restores the process defaults.
        int before = KernelOptions.EffectiveThreads;
        using (KernelOptions.Use(new ExecutionOptions { Threads = 1 })) Assert.Equal(1, KernelOptions.EffectiveThreads);
        Assert.Equal(before, KernelOptions.EffectiveThreads);
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantSharpModel.Load(Stories, new ExecutionOptions { Threads = -1 }));
    }

    [Fact]
    public async Task GivenTemplateIsUsedAndBadOptionsNameTheField()
    {
        var client = _model.AsChatClient(new QuantSharpChatClientOptions { ChatTemplate = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}" });
        Assert.Equal("system: Be brief.\nuser: Hi\nassistant:", client.RenderPrompt([new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi")]));
        var r = await client.GetResponseAsync(User("Hi"), new ChatOptions { MaxOutputTokens = 8 });
        Assert.True(r.Usage!.OutputTokenCount <= 8);
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _model.AsChatClient().GetResponseAsync(User("Hi"), new ChatOptions { TopP = 0 }));
        Assert.Contains("TopP", ex.Message);
    }
}
