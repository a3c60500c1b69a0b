// The server's request validation as pure functions: each bad field is named in the error's param.
using System.Text;
using QuantSharp.Server;

namespace QuantSharp.Tests.Serve;

public sealed class RequestValidationTests
{
    private static ReadOnlyMemory<byte> Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("""{"model":"m"}""", "messages", "'messages' is a required property")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}""", "max_tokens", "'max_tokens' must be between 1 and 2147483647, got -1")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"temperature":3}""", "temperature", "'temperature' must be at least 0 and at most 2, got 3")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"top_p":"a"}""", "top_p", "'top_p' must be a number, got a string")]
    [InlineData("""{"messages":[{"role":"user","content":"x"},{"role":"bot","content":"y"}]}""", "messages[1].role", "'messages[1].role' = 'bot' is not one of 'system', 'developer', 'user', 'assistant', 'tool'")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"text","text":1}]}]}""", "messages[0].content[0].text", "'messages[0].content[0].text' must be a string, got the number 1")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stop":["a",2]}""", "stop[1]", "'stop[1]' must be a string, got the number 2")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stream_options":{}}""", "stream_options", "'stream_options' is only allowed when 'stream' is true")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]""", null, "the request body is not valid JSON")]
    public void ChatRequestErrorsNameTheField(string body, string? param, string message)
    {
        var ex = Assert.Throws<ApiException>(() => ChatCompletionRequest.Parse(Utf8(body)));
        Assert.Equal(400, ex.StatusCode);
        Assert.Equal("invalid_request_error", ex.Type);
        Assert.Equal(param, ex.Param);
        Assert.StartsWith(message, ex.Message);
    }

    [Fact]
    public void AValidChatRequestMapsToChatOptions()
    {
        var r = ChatCompletionRequest.Parse(Utf8("""
            {"model":"x","messages":[{"role":"developer","content":"Be brief"},{"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]},{"role":"assistant","content":null}],
             "max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":40,"seed":-3,"stop":"\n","stream":true,"stream_options":{"include_usage":true},"n":1,"user":"ignored"}
            """));
        Assert.Equal(["Be brief", "Hi there", ""], r.Messages.Select(m => m.Text));
        Assert.Equal(Microsoft.Extensions.AI.ChatRole.System, r.Messages[0].Role);
        var o = r.ToChatOptions();
        Assert.Equal((7, 0.5f, 0.9f, 40, -3L), (o.MaxOutputTokens, o.Temperature, o.TopP, o.TopK, o.Seed));
        Assert.Equal(["\n"], o.StopSequences!);
        Assert.True(r.Sampling.Stream && r.Sampling.IncludeUsage);
    }

    [Fact]
    public void CompletionRequestDefaultsAndErrors()
    {
        var r = CompletionRequest.Parse(Utf8("""{"prompt":["Once"]}"""));
        Assert.Equal("Once", r.Prompt);
        Assert.Equal(CompletionRequest.DefaultMaxTokens, r.ToGenerationOptions().MaxTokens);
        Assert.Equal("prompt", Assert.Throws<ApiException>(() => CompletionRequest.Parse(Utf8("""{"prompt":[1,2]}"""))).Param);
        Assert.Equal("echo", Assert.Throws<ApiException>(() => CompletionRequest.Parse(Utf8("""{"prompt":"a","echo":true}"""))).Param);
    }

    [Fact]
    public async Task TheGateAdmitsSlotsPlusQueueAndNoMore()
    {
        using var gate = new ConcurrencyGate(maxConcurrent: 1, queueLength: 2);
        var first = await gate.TryEnterAsync(CancellationToken.None);
        Assert.NotNull(first);
        using var leave = new CancellationTokenSource();
        var second = gate.TryEnterAsync(CancellationToken.None);
        var third = gate.TryEnterAsync(leave.Token);
        Assert.Equal((1, 2), (gate.Running, gate.Queued));
        Assert.Null(await gate.TryEnterAsync(CancellationToken.None));
        // A waiter that gives up leaves the queue; a finished one frees the slot for the next.
        leave.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => third);
        Assert.Equal(1, gate.Queued);
        first!.Dispose();
        using var s = await second;
        Assert.Equal((1, 0), (gate.Running, gate.Queued));
    }
}
