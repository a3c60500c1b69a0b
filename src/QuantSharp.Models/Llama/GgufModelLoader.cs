// Builds a LlamaModel from a GGUF file of one of llama.cpp's architectures that ModelArchitectures lists.
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Architectures;

namespace QuantSharp.Models.Llama;

/// <summary>Reads llama.cpp's {arch}.* hyperparameters, tokenizer.ggml.* vocabulary and tensors.</summary>
internal static class GgufModelLoader
{
    public static LlamaModel Load(string path)
    {
        var gguf = new GgufFile(path);
        try
        {
            var md = gguf.Metadata;
            string arch = md.TryGet<string>(LlamaGgufNames.Architecture, out var a) ? a : throw new InvalidDataException($"{path}: missing {LlamaGgufNames.Architecture}");
            bool moe = md.TryGetInteger($"{arch}.expert_count", out long expertCount) && expertCount > 0;
            var description = ModelArchitectures.FromGguf(arch, moe)
                ?? throw new NotSupportedException($"{path}: architecture '{arch}' is not supported (supported: {ModelArchitectures.SupportedGguf})");
            // Keys that change the function and that this engine does not implement are refused, never ignored.
            var rule = description.GgufSlidingWindowRule;
            // Families whose window applies to every layer (phi3) carry it as {arch}.attention.sliding_window, 0 for none.
            bool everyLayerWindow = description.SlidingWindow == SlidingWindowStyle.EveryLayer;
            foreach (var key in new[] { "attention.sliding_window", "attn_logit_softcapping", "final_logit_softcapping", "expert_shared_count", "expert_weights_scale" })
                if (md.ContainsKey($"{arch}.{key}") && !(key == "attention.sliding_window" && (rule != null || everyLayerWindow)))
                    throw new NotSupportedException($"{path}: {arch}.{key} is not supported");
            // Phi-3 128k's LongRoPE factors: a per-position choice of frequency divisors this engine does not implement.
            foreach (var tensor in new[] { "rope_factors_long.weight", "rope_factors_short.weight" })
                if (gguf.Contains(tensor)) throw new NotSupportedException($"{path}: tensor '{tensor}' (LongRoPE scaling) is not supported");
            int Int(string key, int? fallback = null)
            {
                if (md.TryGetInteger(key, out long v)) return HyperParameterChecks.PositiveCount(path, key, v);
                return fallback is { } f ? HyperParameterChecks.PositiveCount(path, key, f) : throw new InvalidDataException($"{path}: required key {key} is missing");
            }
            float Float(string key, float fallback) => md.TryGet<float>(key, out var f) ? f : fallback;

            int dim = Int(LlamaGgufNames.EmbeddingLength(arch));
            int heads = Int(LlamaGgufNames.HeadCount(arch));
            int kvHeads = Int(LlamaGgufNames.HeadCountKv(arch), heads);
            int headDim = Int(LlamaGgufNames.KeyLength(arch), dim % heads == 0 ? dim / heads : 0);
            if (heads % kvHeads != 0) throw new InvalidDataException($"{path}: head_count {heads} is not a multiple of head_count_kv {kvHeads}");
            int ropeDims = Int(LlamaGgufNames.RopeDimensionCount(arch), headDim);
            if (ropeDims != headDim) throw new NotSupportedException($"{path}: partial RoPE ({ropeDims} of {headDim} dimensions) is not supported");
            TokenizerData? tokData = md.ContainsKey(LlamaGgufNames.TokenizerTokens) ? GgufTokenizerMetadata.Read(md) : null;
            if (!gguf.Contains(LlamaGgufNames.TokenEmbedding)) throw new InvalidDataException($"{path}: required tensor '{LlamaGgufNames.TokenEmbedding}' is missing");
            int vocabFromTensor = checked((int)gguf.GetInfo(LlamaGgufNames.TokenEmbedding).Shape[0]);
            int vocab = Int(LlamaGgufNames.VocabSize(arch), tokData?.Tokens.Count ?? vocabFromTensor);

            RopeScaling? scaling = null;
            if (md.TryGet<string>($"{arch}.rope.scaling.type", out var st) && st is not ("none" or ""))
            {
                if (st != "linear") throw new NotSupportedException($"{path}: rope scaling type '{st}' is not supported");
                scaling = new RopeScaling("linear", HyperParameterChecks.ScalingFactor(path, $"{arch}.rope.scaling.factor", Float($"{arch}.rope.scaling.factor", 1f)), 1, 4, 0);
            }
            float[]? freqFactors = null;
            if (gguf.Contains(GgufLlamaExporter.RopeFrequencyFactorsTensor))
            {
                var t = gguf.Get(GgufLlamaExporter.RopeFrequencyFactorsTensor);
                if (t.ElementCount != headDim / 2) throw new InvalidDataException($"{path}: '{GgufLlamaExporter.RopeFrequencyFactorsTensor}' has {t.ElementCount} values, expected {headDim / 2}");
                freqFactors = t.ToFloat32();
                for (int i = 0; i < freqFactors.Length; i++) HyperParameterChecks.ScalingFactor(path, $"{GgufLlamaExporter.RopeFrequencyFactorsTensor}[{i}]", freqFactors[i]);
            }
            int layers = Int(LlamaGgufNames.BlockCount(arch));
            int? window = null;
            bool[]? slidingLayers = null;
            float? queryScalar = null;
            if (everyLayerWindow && md.ContainsKey($"{arch}.attention.sliding_window"))
            {
                // As transformers runs the model: each query sees the last `window` positions. llama.cpp b8390 ignores
                // phi3's window ("Phi SWA is currently disabled"), so past the window the two differ (docs/architectures.md).
                long w = md.TryGetInteger($"{arch}.attention.sliding_window", out long sw) ? sw
                    : throw new InvalidDataException($"{path}: {arch}.attention.sliding_window is not an integer");
                int context = Int(LlamaGgufNames.ContextLength(arch), 2048);
                if (w > 0 && w < context) window = HyperParameterChecks.PositiveCount(path, $"{arch}.attention.sliding_window", w);
            }
            if (rule is { } r)
            {
                // llama.cpp's fixed rules for this family: every Pattern-th layer global, the others windowed
                // with their own RoPE base; Gemma 3 27B (62 layers) scales queries by hidden/heads, the others by head_dim.
                window = Int($"{arch}.attention.sliding_window");
                slidingLayers = Enumerable.Range(0, layers).Select(i => i % r.Pattern < r.Pattern - 1).ToArray();
                if (layers == 62) queryScalar = (float)dim / heads;
            }
            var hp = new LlamaHyperParameters
            {
                Architecture = description,
                SlidingWindow = window,
                SlidingLayers = slidingLayers,
                RopeLocalTheta = rule?.LocalRopeTheta,
                QueryPreAttentionScalar = queryScalar,
                // llama.cpp's MoE graphs for these families renormalise the top-k weights (norm_w = true).
                ExpertCount = moe ? Int($"{arch}.expert_count") : 0,
                ExpertsPerToken = moe ? Int($"{arch}.expert_used_count") : 0,
                ExpertHiddenDim = moe ? Int($"{arch}.expert_feed_forward_length", Int(LlamaGgufNames.FeedForwardLength(arch))) : 0,
                VocabSize = vocab,
                Dim = dim,
                HiddenDim = Int(LlamaGgufNames.FeedForwardLength(arch)),
                NumLayers = layers,
                NumHeads = heads,
                NumKvHeads = kvHeads,
                HeadDim = headDim,
                RmsNormEps = (float)HyperParameterChecks.RmsEpsilon(path, LlamaGgufNames.RmsNormEpsilon(arch), Float(LlamaGgufNames.RmsNormEpsilon(arch), 1e-5f)),
                RopeTheta = (float)HyperParameterChecks.RopeTheta(path, LlamaGgufNames.RopeFreqBase(arch), Float(LlamaGgufNames.RopeFreqBase(arch), 10000f), headDim),
                RopeScaling = scaling,
                RopeFrequencyFactors = freqFactors,
                ContextLength = Int(LlamaGgufNames.ContextLength(arch), 2048),
                RopeLayout = description.GgufRopeLayout,
                TiedEmbeddings = !gguf.Contains(LlamaGgufNames.Output),
            };
            ITextTokenizer? tokenizer = tokData is null ? null : GgufTokenizerFactory.Create(tokData, path);
            return new LlamaModel(gguf, hp, description.GgufNaming, tokenizer, "gguf") { Rotation = RotationRecord.FromGguf(md, path) };
        }
        catch
        {
            gguf.Dispose();
            throw;
        }
    }
}
