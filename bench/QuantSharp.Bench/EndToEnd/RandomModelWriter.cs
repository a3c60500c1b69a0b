// `random-model`: writes a Llama-shaped Hugging Face checkpoint with random weights, to benchmark real model sizes without downloading one.
using System.Buffers.Binary;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using static QuantSharp.Bench.BenchCommandLine;

namespace QuantSharp.Bench.EndToEnd;

/// <summary>
/// `random-model [--out DIR] [--hidden 2048] [--layers 16] [--heads 32] [--kv-heads 8] [--ffn 8192]
/// [--vocab 8192] [--context 2048] [--seed 1]`: a LlamaForCausalLM folder (config.json,
/// model.safetensors in BF16, sotu-llama-30m's 8192-token tokenizer) whose shapes default to
/// Llama-3.2-1B's with a smaller vocabulary. Weights are seeded Gaussians scaled so activations stay
/// of order one; speed does not depend on their values. The output goes to a new temp folder unless
/// --out is given (it must not exist yet): model files are never written into the repository.
/// Then e.g. `e2e --model DIR --types q4_0` converts it (llama.cpp's quantizer) and runs both engines.
/// `--experts N [--experts-used 2] [--expert-ffn F]` writes a Mixtral-layout mixture of experts instead.
/// </summary>
internal static class RandomModelWriter
{
    public static int Run(string[] args)
    {
        int hidden = Int(args, "--hidden", 2048), layers = Int(args, "--layers", 16), heads = Int(args, "--heads", 32);
        int kvHeads = Int(args, "--kv-heads", 8), ffn = Int(args, "--ffn", 8192), vocab = Int(args, "--vocab", 8192);
        int context = Int(args, "--context", 2048), seed = Int(args, "--seed", 1);
        // --experts N: a Mixtral-layout mixture of experts (router + N experts of --expert-ffn each, top --experts-used).
        int experts = Int(args, "--experts", 0), used = Int(args, "--experts-used", 2), expertFfn = Int(args, "--expert-ffn", ffn);
        string folder = Arg(args, "--out") ?? Directory.CreateTempSubdirectory("qs-random-model-").FullName;
        if (Arg(args, "--out") is not null)
        {
            if (Directory.Exists(folder)) { Console.Error.WriteLine($"{folder} exists; give a new folder"); return 2; }
            Directory.CreateDirectory(folder);
        }
        if (vocab != 8192) Console.Error.WriteLine("note: the tokenizer has 8192 tokens; other vocabulary sizes only suit runs that never decode text");
        int headDim = hidden / heads, q = heads * headDim, kv = kvHeads * headDim;
        var w = new SafetensorsWriter();
        int tensorSeed = seed * 1000;
        void Add(string name, long rows, long cols, double std, double mean = 0)
        {
            int s = tensorSeed++;
            long[] shape = cols == 0 ? [rows] : [rows, cols];
            w.AddTensor(name, DType.BF16, shape, stream => WriteGaussianBf16(stream, rows * Math.Max(cols, 1), std, mean, s));
        }
        Add("model.embed_tokens.weight", vocab, hidden, 0.1);
        for (int i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.";
            Add(p + "input_layernorm.weight", hidden, 0, 0.1, 1);
            Add(p + "self_attn.q_proj.weight", q, hidden, 1 / Math.Sqrt(hidden));
            Add(p + "self_attn.k_proj.weight", kv, hidden, 1 / Math.Sqrt(hidden));
            Add(p + "self_attn.v_proj.weight", kv, hidden, 1 / Math.Sqrt(hidden));
            Add(p + "self_attn.o_proj.weight", hidden, q, 1 / Math.Sqrt(q));
            Add(p + "post_attention_layernorm.weight", hidden, 0, 0.1, 1);
            if (experts > 0)
            {
                Add(p + "block_sparse_moe.gate.weight", experts, hidden, 1 / Math.Sqrt(hidden));
                for (int e = 0; e < experts; e++)
                {
                    string x = $"{p}block_sparse_moe.experts.{e}.";
                    Add(x + "w1.weight", expertFfn, hidden, 1 / Math.Sqrt(hidden));
                    Add(x + "w3.weight", expertFfn, hidden, 1 / Math.Sqrt(hidden));
                    Add(x + "w2.weight", hidden, expertFfn, 1 / Math.Sqrt(expertFfn));
                }
                continue;
            }
            Add(p + "mlp.gate_proj.weight", ffn, hidden, 1 / Math.Sqrt(hidden));
            Add(p + "mlp.up_proj.weight", ffn, hidden, 1 / Math.Sqrt(hidden));
            Add(p + "mlp.down_proj.weight", hidden, ffn, 1 / Math.Sqrt(ffn));
        }
        Add("model.norm.weight", hidden, 0, 0.1, 1);
        w.WriteFile(Path.Combine(folder, "model.safetensors"));
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = hidden,
            ["intermediate_size"] = ffn,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads,
            ["num_key_value_heads"] = kvHeads,
            ["head_dim"] = headDim,
            ["vocab_size"] = vocab,
            ["max_position_embeddings"] = context,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 500000.0,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = true,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["bos_token_id"] = 0,
            ["eos_token_id"] = 0,
            ["torch_dtype"] = "bfloat16",
        };
        if (experts > 0)
        {
            config["architectures"] = new JsonArray("MixtralForCausalLM");
            config["model_type"] = "mixtral";
            config["intermediate_size"] = expertFfn;
            config["num_local_experts"] = experts;
            config["num_experts_per_tok"] = used;
            config.Remove("attention_bias");
            config.Remove("mlp_bias");
        }
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(SharedRoot(), "models", "sotu-llama-30m", file), Path.Combine(folder, file));
        long mlp = experts > 0 ? (long)experts * (3L * hidden * expertFfn + hidden) : 3L * hidden * ffn;
        long parameters = (long)vocab * hidden + layers * ((long)hidden * (q + 2 * kv) + (long)q * hidden + mlp + 2 * hidden) + hidden;
        Console.WriteLine($"{folder}: {parameters / 1e6:F0}M parameters, {layers} layers, hidden {hidden}, heads {heads}/{kvHeads}, "
            + (experts > 0 ? $"{experts} experts of {expertFfn} (top {used})" : $"ffn {ffn}") + $", vocab {vocab}");
        return 0;
    }

    private static int Int(string[] args, string name, int fallback) => Arg(args, name) is { } v ? int.Parse(v) : fallback;

    /// <summary>count Gaussian values (Box–Muller) as BF16 (round to nearest even), streamed in 64 KiB pieces.</summary>
    private static void WriteGaussianBf16(Stream stream, long count, double std, double mean, int seed)
    {
        var rng = new Random(seed);
        var buffer = new byte[64 * 1024];
        long done = 0;
        while (done < count)
        {
            int n = (int)Math.Min(buffer.Length / 2, count - done);
            for (int i = 0; i < n; i++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                uint bits = BitConverter.SingleToUInt32Bits((float)(mean + std * g));
                bits += 0x7FFF + ((bits >> 16) & 1);
                BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(2 * i), (ushort)(bits >> 16));
            }
            stream.Write(buffer, 0, 2 * n);
            done += n;
        }
    }
}
