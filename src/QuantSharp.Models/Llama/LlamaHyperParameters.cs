// Architecture-neutral hyperparameters of a Llama-family decoder, whatever file they came from.
using QuantSharp.Formats.HuggingFace;

namespace QuantSharp.Models.Llama;

/// <summary>How query/key dimensions are paired for rotary embeddings.</summary>
public enum RopeLayout
{
    /// <summary>Pairs (2i, 2i+1): GGUF's llama, llama2.c and Meta's original checkpoints.</summary>
    Interleaved,
    /// <summary>Pairs (i, i + d/2): Hugging Face's rotate_half (GGUF converters permute q/k rows to undo it).</summary>
    HalfSplit,
}

/// <summary>Hyperparameters of a Llama-family decoder (Llama 1–3, Mistral, SmolLM, llama2.c models).</summary>
public sealed record LlamaHyperParameters
{
    /// <summary>Vocabulary size (rows of the embedding).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Model width.</summary>
    public required int Dim { get; init; }
    /// <summary>FFN width.</summary>
    public required int HiddenDim { get; init; }
    /// <summary>Decoder layers.</summary>
    public required int NumLayers { get; init; }
    /// <summary>Query heads.</summary>
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads (grouped-query attention when fewer than query heads).</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>Per-head width.</summary>
    public required int HeadDim { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public required float RmsNormEps { get; init; }
    /// <summary>RoPE base.</summary>
    public required float RopeTheta { get; init; }
    /// <summary>RoPE frequency scaling (linear or Llama-3), or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Per-pair frequency divisors stored in a GGUF (rope_freqs.weight, Llama-3 scaling), or null.</summary>
    public float[]? RopeFrequencyFactors { get; init; }
    /// <summary>Training context length.</summary>
    public required int ContextLength { get; init; }
    /// <summary>Which dimensions RoPE pairs, as stored in the weights.</summary>
    public required RopeLayout RopeLayout { get; init; }
    /// <summary>Whether the classifier shares the token embedding.</summary>
    public required bool TiedEmbeddings { get; init; }

    /// <summary>Query width = heads × head_dim.</summary>
    public int QDim => NumHeads * HeadDim;
    /// <summary>Key/value width = kv heads × head_dim.</summary>
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>From a Hugging Face config.</summary>
    public static LlamaHyperParameters FromHf(HfConfig c)
    {
        if (c.ModelType is not ("llama" or "mistral") && !c.Architecture.StartsWith("Llama", StringComparison.Ordinal) && !c.Architecture.StartsWith("Mistral", StringComparison.Ordinal))
            throw new NotSupportedException($"{c.Path}: architecture '{c.Architecture}' (model_type '{c.ModelType}') is not supported; supported: LlamaForCausalLM, MistralForCausalLM");
        if (c.AttentionBias || c.MlpBias) throw new NotSupportedException($"{c.Path}: attention_bias / mlp_bias are not supported yet");
        if (c.HiddenAct != "silu") throw new NotSupportedException($"{c.Path}: hidden_act '{c.HiddenAct}' is not supported (expected silu)");
        if (c.RopeScaling is { Type: not ("linear" or "llama3") } rs)
            throw new NotSupportedException($"{c.Path}: rope scaling type '{rs.Type}' is not supported (default, linear, llama3)");
        return new LlamaHyperParameters
        {
            VocabSize = c.VocabSize,
            Dim = c.HiddenSize,
            HiddenDim = c.IntermediateSize,
            NumLayers = c.NumLayers,
            NumHeads = c.NumHeads,
            NumKvHeads = c.NumKvHeads,
            HeadDim = c.HeadDim,
            RmsNormEps = (float)c.RmsNormEps,
            RopeTheta = (float)c.RopeTheta,
            RopeScaling = c.RopeScaling,
            ContextLength = c.MaxPositionEmbeddings,
            RopeLayout = RopeLayout.HalfSplit,
            TiedEmbeddings = c.TieWordEmbeddings,
        };
    }

    /// <summary>
    /// Inverse frequencies per rotary pair, in double precision then rounded once:
    /// base^(−2i/d), divided by the scaling factor where the config asks for it.
    /// </summary>
    public float[] RopeInverseFrequencies()
    {
        int half = HeadDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            double f = Math.Pow(RopeTheta, -2.0 * i / HeadDim);
            f /= RopeFrequencyFactors is { } ff ? ff[i] : RopeFrequencyFactor(f);
            inv[i] = (float)f;
        }
        return inv;
    }

    /// <summary>The divisor scaling applies to inverse frequency <paramref name="invFreq"/> (1 when none).</summary>
    public double RopeFrequencyFactor(double invFreq)
    {
        if (RopeScaling is null) return 1.0;
        if (RopeScaling.Type == "linear") return RopeScaling.Factor;
        // Llama-3: long wavelengths are divided by the factor, short ones kept, a smooth ramp between.
        var s = RopeScaling;
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        double wavelen = 2 * Math.PI / invFreq;
        if (wavelen < highWavelen) return 1.0;
        if (wavelen > lowWavelen) return s.Factor;
        double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return 1.0 / ((1 - smooth) / s.Factor + smooth);
    }
}
