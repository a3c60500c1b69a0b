// An independent float64 forward of the supported architectures, written from transformers' modeling code.
using System.Text.Json;
using QuantSharp.Formats.Safetensors;

namespace QuantSharp.Tests.Architectures;

/// <summary>
/// A plain, unoptimised float64 implementation of transformers' LlamaForCausalLM, MistralForCausalLM,
/// Qwen2ForCausalLM and Qwen3ForCausalLM forward passes (modeling_llama/mistral/qwen2/qwen3.py), reading
/// config.json itself and sharing no code with the engine (only the safetensors reader): RMSNorm as
/// <c>weight · x · rsqrt(mean(x²) + eps)</c>, q/k/v projections with their biases, Qwen3's per-head
/// q_norm/k_norm before RoPE, RoPE by <c>rotate_half</c> with <c>inv_freq = θ^(−2i/d)</c>, GQA by repeating
/// KV heads, causal softmax attention (Mistral: only keys with <c>i − j &lt; sliding_window</c>),
/// <c>down(silu(gate(x)) · up(x))</c>, residuals, final norm, and lm_head or the tied embedding.
/// Gemma 3 (modeling_gemma3.py): embeddings × √hidden, norms <c>x · rsqrt(mean(x²) + eps) · (1 + w)</c>,
/// post-attention and pre/post-feedforward norms, GELU-tanh, scores scaled by query_pre_attn_scalar^−½,
/// local layers (<c>layer_types</c>) windowed and rotated with <c>rope_local_base_freq</c>.
/// Phi-3 (modeling_phi3.py): Mistral's block read from fused <c>qkv_proj</c> and <c>gate_up_proj</c> weights.
/// </summary>
public sealed class ReferenceDecoder
{
    private readonly Dictionary<string, double[]> _w = new(StringComparer.Ordinal);
    private readonly int _d, _layers, _heads, _kvHeads, _hd, _vocab;
    private readonly int _ffn;
    private readonly double _eps, _theta;
    private readonly int? _window;
    private readonly bool _tied, _gemma;
    private readonly double _localTheta, _queryScalar;
    private readonly bool[] _local;
    private readonly int _experts, _used;
    private readonly string _moePrefix = "", _gateName = "gate_proj", _upName = "up_proj", _downName = "down_proj";
    private readonly bool _normTopK = true;

    public ReferenceDecoder(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var c = doc.RootElement;
        _d = c.GetProperty("hidden_size").GetInt32();
        _layers = c.GetProperty("num_hidden_layers").GetInt32();
        _heads = c.GetProperty("num_attention_heads").GetInt32();
        _kvHeads = c.GetProperty("num_key_value_heads").GetInt32();
        _hd = c.TryGetProperty("head_dim", out var hd) ? hd.GetInt32() : _d / _heads;
        _ffn = c.GetProperty("intermediate_size").GetInt32();
        _vocab = c.GetProperty("vocab_size").GetInt32();
        _eps = c.GetProperty("rms_norm_eps").GetDouble();
        _theta = c.GetProperty("rope_theta").GetDouble();
        _tied = c.GetProperty("tie_word_embeddings").GetBoolean();
        // Mistral and Phi-3 mask with sliding_window whenever it is set (create_sliding_window_causal_mask); Qwen only with use_sliding_window.
        bool useWindow = c.GetProperty("model_type").GetString() is "mistral" or "phi3" || (c.TryGetProperty("use_sliding_window", out var u) && u.GetBoolean());
        _window = useWindow && c.TryGetProperty("sliding_window", out var sw) && sw.ValueKind == JsonValueKind.Number ? sw.GetInt32() : null;
        _gemma = c.GetProperty("model_type").GetString() == "gemma3_text";
        _local = new bool[_layers];
        _queryScalar = _hd;
        if (_gemma)
        {
            _window = c.GetProperty("sliding_window").GetInt32();
            _localTheta = c.GetProperty("rope_local_base_freq").GetDouble();
            _queryScalar = c.GetProperty("query_pre_attn_scalar").GetDouble();
            int i = 0;
            foreach (var t in c.GetProperty("layer_types").EnumerateArray()) _local[i++] = t.GetString() == "sliding_attention";
        }
        else if (_window != null) Array.Fill(_local, true);
        // Mixture of experts (modeling_qwen3_moe.py / modeling_mixtral.py): softmax over the router's logits in
        // float, top-k, weights divided by their sum (Mixtral always, Qwen3-MoE with norm_topk_prob).
        if (c.TryGetProperty("num_experts", out var ne) || c.TryGetProperty("num_local_experts", out ne))
        {
            _experts = ne.GetInt32();
            _used = c.GetProperty("num_experts_per_tok").GetInt32();
            bool mixtral = c.GetProperty("model_type").GetString() == "mixtral";
            _moePrefix = mixtral ? "block_sparse_moe." : "mlp.";
            if (mixtral) (_gateName, _upName, _downName) = ("w1", "w3", "w2");
            else _normTopK = c.GetProperty("norm_topk_prob").GetBoolean();
            _ffn = mixtral ? _ffn : c.GetProperty("moe_intermediate_size").GetInt32();
        }
        using var st = SafetensorsModel.Open(folder);
        foreach (var name in st.TensorNames) _w[name] = Array.ConvertAll(st.Get(name).ToFloat32(), x => (double)x);
        // Phi-3 (modeling_phi3.py): qkv = qkv_proj(x); q = qkv[..., :heads·hd], k = the next kv_heads·hd, v = the rest;
        // gate, up = gate_up_proj(x).chunk(2) and the MLP is down(up · act(gate)). Rows of the fused weights split so.
        for (int l = 0; l < _layers; l++)
        {
            string p = $"model.layers.{l}.";
            if (Opt(p + "self_attn.qkv_proj.weight") is { } qkv)
            {
                int qRows = _heads * _hd, kvRows = _kvHeads * _hd;
                _w[p + "self_attn.q_proj.weight"] = qkv[..(qRows * _d)];
                _w[p + "self_attn.k_proj.weight"] = qkv[(qRows * _d)..((qRows + kvRows) * _d)];
                _w[p + "self_attn.v_proj.weight"] = qkv[((qRows + kvRows) * _d)..];
            }
            if (Opt(p + "mlp.gate_up_proj.weight") is { } gateUp)
            {
                _w[p + "mlp.gate_proj.weight"] = gateUp[..(_ffn * _d)];
                _w[p + "mlp.up_proj.weight"] = gateUp[(_ffn * _d)..];
            }
        }
    }

    private double[]? Opt(string name) => _w.TryGetValue(name, out var v) ? v : null;

    /// <summary>Logits [tokens, vocab] for <paramref name="tokens"/> from position 0.</summary>
    public double[] Forward(int[] tokens)
    {
        int T = tokens.Length, d = _d;
        var h = new double[T * d];
        var emb = _w["model.embed_tokens.weight"];
        for (int t = 0; t < T; t++) Array.Copy(emb, (long)tokens[t] * d, h, t * d, d);
        if (_gemma)
            for (int i = 0; i < h.Length; i++) h[i] *= Math.Sqrt(d);
        for (int l = 0; l < _layers; l++)
        {
            string p = $"model.layers.{l}.";
            var x = RmsNorm(h, T, d, _w[p + "input_layernorm.weight"]);
            var q = Linear(x, T, d, _w[p + "self_attn.q_proj.weight"], _heads * _hd, Opt(p + "self_attn.q_proj.bias"));
            var k = Linear(x, T, d, _w[p + "self_attn.k_proj.weight"], _kvHeads * _hd, Opt(p + "self_attn.k_proj.bias"));
            var v = Linear(x, T, d, _w[p + "self_attn.v_proj.weight"], _kvHeads * _hd, Opt(p + "self_attn.v_proj.bias"));
            if (Opt(p + "self_attn.q_norm.weight") is { } qn) q = RmsNorm(q, T * _heads, _hd, qn);
            if (Opt(p + "self_attn.k_norm.weight") is { } kn) k = RmsNorm(k, T * _kvHeads, _hd, kn);
            double theta = _gemma && _local[l] ? _localTheta : _theta;
            Rope(q, T, _heads, theta);
            Rope(k, T, _kvHeads, theta);
            var attn = new double[T * _heads * _hd];
            int group = _heads / _kvHeads;
            double scale = 1 / Math.Sqrt(_queryScalar);
            for (int head = 0; head < _heads; head++)
            {
                int kvh = head / group;
                for (int i = 0; i < T; i++)
                {
                    var scores = new double[i + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)
                    {
                        if (_local[l] && i - j >= _window!.Value) { scores[j] = double.NegativeInfinity; continue; }
                        double s = 0;
                        for (int e = 0; e < _hd; e++) s += q[(i * _heads + head) * _hd + e] * k[(j * _kvHeads + kvh) * _hd + e];
                        scores[j] = s * scale;
                        max = Math.Max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                    for (int j = 0; j <= i; j++)
                        for (int e = 0; e < _hd; e++)
                            attn[(i * _heads + head) * _hd + e] += scores[j] / sum * v[(j * _kvHeads + kvh) * _hd + e];
                }
            }
            var o = Linear(attn, T, _heads * _hd, _w[p + "self_attn.o_proj.weight"], d, null);
            if (_gemma) o = RmsNorm(o, T, d, _w[p + "post_attention_layernorm.weight"]);
            for (int i = 0; i < h.Length; i++) h[i] += o[i];
            x = RmsNorm(h, T, d, _w[p + (_gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")]);
            if (_experts > 0)
            {
                var moe = Experts(x, T, p);
                for (int i = 0; i < h.Length; i++) h[i] += moe[i];
                continue;
            }
            var gate = Linear(x, T, d, _w[p + "mlp.gate_proj.weight"], _ffn, null);
            var up = Linear(x, T, d, _w[p + "mlp.up_proj.weight"], _ffn, null);
            for (int i = 0; i < gate.Length; i++)
            {
                double g = gate[i];
                gate[i] = (_gemma ? 0.5 * g * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))) : g / (1 + Math.Exp(-g))) * up[i];
            }
            var down = Linear(gate, T, _ffn, _w[p + "mlp.down_proj.weight"], d, null);
            if (_gemma) down = RmsNorm(down, T, d, _w[p + "post_feedforward_layernorm.weight"]);
            for (int i = 0; i < h.Length; i++) h[i] += down[i];
        }
        var final = RmsNorm(h, T, d, _w["model.norm.weight"]);
        return Linear(final, T, d, _tied ? _w["model.embed_tokens.weight"] : _w["lm_head.weight"], _vocab, null);
    }

    private double[] Experts(double[] x, int T, string p)
    {
        int d = _d;
        var router = Linear(x, T, d, _w[p + _moePrefix + "gate.weight"], _experts, null);
        var y = new double[T * d];
        for (int t = 0; t < T; t++)
        {
            var probs = new double[_experts];
            double max = double.NegativeInfinity, sum = 0;
            for (int e = 0; e < _experts; e++) max = Math.Max(max, router[t * _experts + e]);
            for (int e = 0; e < _experts; e++) sum += probs[e] = Math.Exp(router[t * _experts + e] - max);
            for (int e = 0; e < _experts; e++) probs[e] /= sum;
            var top = Enumerable.Range(0, _experts).OrderByDescending(e => probs[e]).ThenBy(e => e).Take(_used).ToArray();
            double norm = _normTopK ? top.Sum(e => probs[e]) : 1;
            var row = x.AsSpan(t * d, d).ToArray();
            foreach (int e in top)
            {
                string ex = $"{p}{_moePrefix}experts.{e}.";
                var g = Linear(row, 1, d, _w[ex + _gateName + ".weight"], _ffn, null);
                var u = Linear(row, 1, d, _w[ex + _upName + ".weight"], _ffn, null);
                for (int i = 0; i < g.Length; i++) g[i] = g[i] / (1 + Math.Exp(-g[i])) * u[i];
                var o = Linear(g, 1, _ffn, _w[ex + _downName + ".weight"], d, null);
                for (int i = 0; i < d; i++) y[t * d + i] += probs[e] / norm * o[i];
            }
        }
        return y;
    }

    private double[] RmsNorm(double[] x, int rows, int width, double[] weight)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < width; i++) ss += x[r * width + i] * x[r * width + i];
            double inv = 1 / Math.Sqrt(ss / width + _eps);
            for (int i = 0; i < width; i++) y[r * width + i] = (_gemma ? 1 + weight[i] : weight[i]) * (x[r * width + i] * inv);
        }
        return y;
    }

    private static double[] Linear(double[] x, int rows, int inDim, double[] w, int outDim, double[]? bias)
    {
        var y = new double[rows * outDim];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double s = bias?[o] ?? 0;
                for (int i = 0; i < inDim; i++) s += x[r * inDim + i] * w[(long)o * inDim + i];
                y[r * outDim + o] = s;
            }
        return y;
    }

    // transformers' apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, cos/sin = cat(freqs, freqs), position = token index.
    private void Rope(double[] x, int tokens, int heads, double theta)
    {
        int half = _hd / 2;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                int b = (t * heads + h) * _hd;
                for (int i = 0; i < half; i++)
                {
                    double freq = t * Math.Pow(theta, -2.0 * i / _hd);
                    double c = Math.Cos(freq), s = Math.Sin(freq);
                    double x1 = x[b + i], x2 = x[b + i + half];
                    x[b + i] = x1 * c - x2 * s;
                    x[b + i + half] = x2 * c + x1 * s;
                }
            }
    }
}
