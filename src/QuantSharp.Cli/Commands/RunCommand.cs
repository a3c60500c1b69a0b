// quantsharp run: generate text from a prompt, streaming tokens as they come.
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Cli.Commands;

internal static class RunCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var n = new Option<int>("-n", "--n-predict") { Description = "Tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature", "--temp") { Description = "Sampling temperature (0 = greedy)", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Top-k (0 = off)", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "Top-p (1 = off)", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed", "-s") { Description = "Random seed for sampling", DefaultValueFactory = _ => 0 };
        var kvCache = new Option<string>("--kv-cache")
        {
            Description = "KV cache element type: f32 (exact, the default) or f16 (llama.cpp's default: half the memory)",
            DefaultValueFactory = _ => "f32",
        };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("run", "Generate text from a prompt") { model, prompt, n, temperature, topK, topP, seed, kvCache, threads, tokenizer };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            int count = r.GetValue(n);
            if (count < 0) throw new ArgumentException($"-n must be ≥ 0, got {count}");
            var sampler = new TokenSampler(r.GetValue(temperature), r.GetValue(topK), r.GetValue(topP), r.GetValue(seed));
            using var m = LlamaModel.Load(r.GetValue(model)!, r.GetValue(tokenizer));
            var tok = m.Tokenizer ?? throw new InvalidDataException($"{m.Origin}: the model has no tokenizer; pass --tokenizer");
            bool addBos = tok.ToTokenizerData().AddBos;
            int[] promptTokens = tok.Encode(r.GetValue(prompt)!, addBos: addBos);
            if (promptTokens.Length == 0)
                promptTokens = tok.BosId is { } b ? [b] : throw new ArgumentException("the prompt is empty and the tokenizer has no BOS token");
            var kv = r.GetValue(kvCache) switch
            {
                "f32" => KvCacheType.F32,
                "f16" => KvCacheType.F16,
                var other => throw new ArgumentException($"--kv-cache '{other}': expected f32 or f16"),
            };
            var session = new InferenceSession(m, Math.Min(m.Parameters.ContextLength, promptTokens.Length + count + 1), kvCache: kv);
            var decoder = new UTF8Encoding(false).GetDecoder();
            void Emit(byte[] bytes)
            {
                var buffer = new char[Math.Max(16, bytes.Length * 2)];
                int c = decoder.GetChars(bytes, 0, bytes.Length, buffer, 0, flush: false);
                Console.Out.Write(buffer, 0, c);
                Console.Out.Flush();
            }
            int? previous = null;
            foreach (int t in promptTokens) { if (t != tok.BosId) Emit(tok.TokenBytes(t, previous)); previous = t; }
            var sw = Stopwatch.StartNew();
            var generated = new TextGenerator(m, session, sampler).Generate(promptTokens, count, t => { Emit(tok.TokenBytes(t, previous)); previous = t; });
            sw.Stop();
            Console.Out.WriteLine();
            Console.Error.WriteLine($"[{generated.Count} tokens in {sw.Elapsed.TotalSeconds:F2} s, {generated.Count / Math.Max(1e-9, sw.Elapsed.TotalSeconds):F1} tokens/s]");
            return 0;
        }));
        return cmd;
    }
}
