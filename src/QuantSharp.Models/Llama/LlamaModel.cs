// A loaded Llama-family model: hyperparameters, weight views, tokenizer.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Formats.Llama2c;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Architectures;

namespace QuantSharp.Models.Llama;

/// <summary>
/// A Llama-family decoder whose weights stay in the (memory-mapped) file they came from. Create
/// an <see cref="InferenceSession"/> to run it. Block-quantized weights of the types with
/// interleaved kernels (Q4_0, Q4_K, Q5_K, Q6_K) get a quad-interleaved copy on AVX-512 machines the
/// first time a product reads them (<see cref="TensorView.WithInterleavedCopy"/>: faster decode,
/// same bits, the matrix's size once more in memory, as llama.cpp's CPU repack).
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly IWeightSource _source;

    /// <summary>Builds a model from a weight source and its hyperparameters, checking every tensor's shape.</summary>
    public LlamaModel(IWeightSource source, LlamaHyperParameters hp, TensorNaming names, ITextTokenizer? tokenizer, string format)
    {
        _source = source;
        Parameters = hp;
        Tokenizer = tokenizer;
        Format = format;
        TokenEmbedding = Expect(names.TokenEmbedding, hp.VocabSize, hp.Dim);
        // Gemma's Hugging Face norms multiply by 1 + w; the model keeps the multiplier, as llama.cpp's GGUF does.
        _normShift = hp.Architecture.NormPlusOne && names.Family == "hf" ? 1f : 0f;
        OutputNorm = Norm(names.OutputNorm, hp.Dim);
        Output = !hp.TiedEmbeddings && source.Contains(names.Output) ? Expect(names.Output, hp.VocabSize, hp.Dim) : TokenEmbedding;
        if (!hp.TiedEmbeddings && !source.Contains(names.Output))
            throw new InvalidDataException($"{source.Origin}: embeddings are not tied but '{names.Output}' is missing");
        Layers = new LlamaLayerWeights[hp.NumLayers];
        var arch = hp.Architecture;
        float[]? Optional(TensorRole role, int i, bool present, long length)
        {
            if (!present) return null;
            if (!names.Has(role)) throw new NotSupportedException($"{source.Origin}: {arch.Name} needs {role} tensors, which {names.Family} files do not have");
            return role is TensorRole.QNorm or TensorRole.KNorm or TensorRole.AttentionPostNorm or TensorRole.FfnPostNorm
                ? Norm(names.Name(role, i), length) : Vector(names.Name(role, i), length);
        }
        for (int i = 0; i < hp.NumLayers; i++)
        {
            string N(TensorRole role) => names.Name(role, i);
            var fused = new Dictionary<string, TensorView>(StringComparer.Ordinal);
            TensorView W(TensorRole role) => Linear(names, role, i, hp, fused);
            Layers[i] = new LlamaLayerWeights
            {
                AttentionNorm = Norm(N(TensorRole.AttentionNorm), hp.Dim),
                Wq = W(TensorRole.Q),
                Wk = W(TensorRole.K),
                Wv = W(TensorRole.V),
                Wo = W(TensorRole.O),
                FfnNorm = Norm(N(TensorRole.FfnNorm), hp.Dim),
                WGate = arch.Moe ? default : W(TensorRole.Gate),
                WUp = arch.Moe ? default : W(TensorRole.Up),
                WDown = arch.Moe ? default : W(TensorRole.Down),
                Experts = arch.Moe ? LoadExperts(names, i, hp) : null,
                QBias = Optional(TensorRole.QBias, i, arch.QkvBias, hp.QDim),
                KBias = Optional(TensorRole.KBias, i, arch.QkvBias, hp.KvDim),
                VBias = Optional(TensorRole.VBias, i, arch.QkvBias, hp.KvDim),
                QNorm = Optional(TensorRole.QNorm, i, arch.QkNorm, hp.HeadDim),
                KNorm = Optional(TensorRole.KNorm, i, arch.QkNorm, hp.HeadDim),
                AttentionPostNorm = Optional(TensorRole.AttentionPostNorm, i, arch.PostNorms, hp.Dim),
                FfnPostNorm = Optional(TensorRole.FfnPostNorm, i, arch.PostNorms, hp.Dim),
            };
        }
        // A tensor of an optional role the architecture does not have would be silently ignored: refuse it.
        foreach (TensorRole role in Enum.GetValues<TensorRole>())
        {
            if (!names.Has(role) || arch.OptionalLayerTensors.Contains(role) || role is not (TensorRole.QBias or TensorRole.KBias or TensorRole.VBias or TensorRole.QNorm or TensorRole.KNorm or TensorRole.AttentionPostNorm or TensorRole.FfnPostNorm)) continue;
            if (hp.NumLayers > 0 && source.Contains(names.Name(role, 0)))
                throw new NotSupportedException($"{source.Origin}: tensor '{names.Name(role, 0)}' is not part of the {arch.Name} architecture (the config does not ask for it); refusing to ignore it");
        }
        // The checks above read the whole mapping: a file truncated underneath since opening is named now.
        source.ThrowIfChanged();
    }

    /// <summary>Hyperparameters.</summary>
    public LlamaHyperParameters Parameters { get; }
    /// <summary>Tokenizer, when the model came with one.</summary>
    public ITextTokenizer? Tokenizer { get; }
    /// <summary>"hf-safetensors", "hf-gptq", "hf-awq", "gguf" or "llama2c".</summary>
    public string Format { get; }
    /// <summary>Where the weights are.</summary>
    public string Origin => _source.Origin;
    /// <summary>The underlying weight source.</summary>
    public IWeightSource Source => _source;
    /// <summary>Token embedding [vocab, dim].</summary>
    public TensorView TokenEmbedding { get; }
    /// <summary>Final RMSNorm weight.</summary>
    public float[] OutputNorm { get; }
    /// <summary>Classifier [vocab, dim] (the embedding when tied).</summary>
    public TensorView Output { get; }
    /// <summary>Decoder layers.</summary>
    public LlamaLayerWeights[] Layers { get; }
    /// <summary>
    /// The rotation fused into the weights (settings of <c>quantsharp rotate</c> or <c>--method rotate+…</c>), read from the
    /// file's config.json or GGUF metadata, or set by the run that rotated it; null for a model that was not rotated. Every
    /// writer stores it again, so outputs of a rotated model say how it was rotated.
    /// </summary>
    public RotationRecord? Rotation { get; init; }

    /// <summary>
    /// Loads a model from a Hugging Face folder (config.json + safetensors + tokenizer.json), a
    /// llama2.c checkpoint (.bin, with tokenizer file <paramref name="tokenizerPath"/> or
    /// tok*.bin beside it), or a GGUF file.
    /// </summary>
    public static LlamaModel Load(string path, string? tokenizerPath = null)
    {
        if (Directory.Exists(path)) return LoadHf(path, tokenizerPath);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder", path);
        if (ModelFileKind.IsGguf(path)) return GgufModelLoader.Load(path);
        if (path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return LoadLlama2c(path, tokenizerPath);
        throw new InvalidDataException($"{path}: not a GGUF file, a llama2.c .bin checkpoint or a Hugging Face model folder");
    }

    private static LlamaModel LoadHf(string folder, string? tokenizerPath)
    {
        var config = HfConfig.Load(folder);
        var hp = LlamaHyperParameters.FromHf(config);
        var tokenizer = TokenizerLoader.Load(tokenizerPath ?? folder);
        // A GPTQ or AWQ checkpoint (quantization_config in config.json): linear layers are dequantized at load.
        var awq = Formats.Awq.AwqQuantizationConfig.TryLoad(folder);
        var gptq = awq is null ? Formats.Gptq.GptqQuantizationConfig.TryLoad(folder) : null;
        IWeightSource source = SafetensorsModel.Open(folder);
        if (awq != null) source = new PackedCheckpointWeights(source, awq);
        else if (gptq != null) source = new PackedCheckpointWeights(source, gptq);
        string format = awq != null ? "hf-awq" : gptq != null ? "hf-gptq" : "hf-safetensors";
        try
        {
            var configJson = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config.Path))?.AsObject()
                ?? throw new InvalidDataException($"{config.Path}: not a JSON object");
            return new LlamaModel(source, hp, hp.Architecture.HfNaming, tokenizer, format) { Rotation = RotationRecord.FromConfig(configJson, config.Path) };
        }
        catch { source.Dispose(); throw; }
    }

    private static LlamaModel LoadLlama2c(string path, string? tokenizerPath)
    {
        var ckpt = new Llama2cCheckpoint(path);
        try
        {
            var h = ckpt.Header;
            var hp = new LlamaHyperParameters
            {
                VocabSize = h.VocabSize,
                Dim = h.Dim,
                HiddenDim = h.HiddenDim,
                NumLayers = h.NumLayers,
                NumHeads = h.NumHeads,
                NumKvHeads = h.NumKvHeads,
                HeadDim = h.HeadDim,
                RmsNormEps = 1e-5f, // llama2.c's run.c hard-codes 1e-5
                RopeTheta = 10000f,
                ContextLength = h.SeqLen,
                RopeLayout = RopeLayout.Interleaved,
                TiedEmbeddings = h.SharedClassifier,
            };
            tokenizerPath ??= FindLlama2cTokenizer(path);
            ITextTokenizer? tok = tokenizerPath is null ? null : TokenizerLoader.Load(tokenizerPath);
            if (tok != null && tok.VocabSize != hp.VocabSize)
                throw new InvalidDataException($"{tokenizerPath}: tokenizer has {tok.VocabSize} tokens but {path} has vocab_size {hp.VocabSize}");
            return new LlamaModel(ckpt, hp, TensorNaming.Meta, tok, "llama2c");
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    private static string? FindLlama2cTokenizer(string checkpoint)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(checkpoint))!;
        var candidates = Directory.GetFiles(dir, "tok*.bin");
        Array.Sort(candidates, StringComparer.Ordinal);
        return candidates.Length > 0 ? candidates[0] : null;
    }

    private TensorView Expect(string name, long rows, long cols)
    {
        if (!_source.Contains(name)) throw new InvalidDataException($"{_source.Origin}: required tensor '{name}' is missing");
        var t = _source.Get(name);
        if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{rows}, {cols}]");
        // Block-quantized weights are fine wherever MatMul (and, for embeddings, BlockDequantizer) takes them.
        if (!MatMul.SupportsWeights(t.DType))
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' is {t.DType}; expected F32, F16, BF16 or a supported block-quantized type");
        long bad = FiniteCheck.FirstNonFinite(t);
        if (bad >= 0)
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' holds NaN or Inf (element {bad}, row {bad / cols}); the model is broken");
        // Block-quantized tensors: their fp16 scales (cheap: scales only), so a NaN scale is an error here rather than PPL = NaN later.
        if (_source is Formats.Gguf.GgufFile g && DTypeInfo.IsBlockQuantized(t.DType)) g.ThrowIfNonFiniteScales(name);
        return t.WithInterleavedCopy(FileMapped);
    }

    /// <summary>Whether the weights are a read-only file mapping (a GGUF), whose pages the interleaved copies may hand back.</summary>
    private bool FileMapped => _source is Formats.Gguf.GgufFile;

    private readonly float _normShift;

    /// <summary>Rows of a linear's weight: its output width.</summary>
    public static long RowsOf(TensorRole role, LlamaHyperParameters hp) => role switch
    {
        TensorRole.Q => hp.QDim,
        TensorRole.K or TensorRole.V => hp.KvDim,
        TensorRole.Gate or TensorRole.Up => hp.HiddenDim,
        TensorRole.O or TensorRole.Down => hp.Dim,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a linear"),
    };

    /// <summary>
    /// A linear's weight: its own tensor, or its rows of a tensor it shares with others (Phi-3's qkv_proj and
    /// gate_up_proj), checked once per file tensor (<paramref name="fused"/> keeps the layer's fused views).
    /// </summary>
    private TensorView Linear(TensorNaming names, TensorRole role, int layer, LlamaHyperParameters hp, Dictionary<string, TensorView> fused)
    {
        long cols = role switch { TensorRole.O => hp.QDim, TensorRole.Down => hp.HiddenDim, _ => hp.Dim };
        string name = names.Name(role, layer);
        var parts = names.FusedParts(role);
        if (parts.Count == 1) return Expect(name, RowsOf(role, hp), cols);
        long first = 0, total = 0;
        foreach (var part in parts)
        {
            if (part == role) first = total;
            total += RowsOf(part, hp);
        }
        if (!fused.TryGetValue(name, out var whole)) fused[name] = whole = Expect(name, total, cols);
        return whole.RowRange(first, RowsOf(role, hp), $"{name}[{role}]").WithInterleavedCopy(FileMapped);
    }

    private ExpertWeights LoadExperts(TensorNaming names, int layer, LlamaHyperParameters hp)
    {
        int e = hp.ExpertCount, h = hp.ExpertHiddenDim, d = hp.Dim;
        if (!names.Has(TensorRole.Router)) throw new NotSupportedException($"{_source.Origin}: {names.Family} files have no mixture-of-experts tensors");
        TensorView[] Experts(TensorRole role, long rows, long cols) => names.StacksExperts(role)
            ? Slices(names.Name(role, layer), e, rows, cols)
            : Enumerable.Range(0, e).Select(x => Expect(names.Name(role, layer, x), rows, cols)).ToArray();
        return new ExpertWeights
        {
            Router = Expect(names.Name(TensorRole.Router, layer), e, d),
            Gate = Experts(TensorRole.ExpertGate, h, d),
            Up = Experts(TensorRole.ExpertUp, h, d),
            Down = Experts(TensorRole.ExpertDown, d, h),
        };
    }

    /// <summary>The per-expert [rows, cols] views of a stacked [experts, rows, cols] tensor (GGUF's ffn_*_exps).</summary>
    private unsafe TensorView[] Slices(string name, int experts, long rows, long cols)
    {
        if (!_source.Contains(name)) throw new InvalidDataException($"{_source.Origin}: required tensor '{name}' is missing");
        var t = _source.Get(name);
        if (t.Shape.Length != 3 || t.Shape[0] != experts || t.Shape[1] != rows || t.Shape[2] != cols)
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{experts}, {rows}, {cols}]");
        if (!MatMul.SupportsWeights(t.DType))
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' is {t.DType}; expected F32, F16, BF16 or a supported block-quantized type");
        long bytes = t.RowByteLength * rows;
        var views = new TensorView[experts];
        for (int x = 0; x < experts; x++)
        {
            var v = new TensorView($"{name}[{x}]", t.DType, [rows, cols], t.Pointer + x * bytes, bytes);
            long bad = FiniteCheck.FirstNonFinite(v);
            if (bad >= 0) throw new InvalidDataException($"{_source.Origin}: tensor '{name}' expert {x} holds NaN or Inf (row {bad / cols}); the model is broken");
            views[x] = v.WithInterleavedCopy(FileMapped);
        }
        return views;
    }

    /// <summary>
    /// A norm's multiplier: the stored vector, plus one where the file stores Gemma's w of a (1 + w) norm.
    /// <see cref="NormShift"/> says which, so that a writer of the same family can store w again.
    /// </summary>
    private float[] Norm(string name, long length)
    {
        var v = Vector(name, length);
        if (_normShift != 0)
            for (int i = 0; i < v.Length; i++) v[i] += _normShift;
        return v;
    }

    /// <summary>What was added to the stored norm weights at load (1 for Gemma's Hugging Face files, else 0).</summary>
    public float NormShift => _normShift;

    private float[] Vector(string name, long length)
    {
        if (!_source.Contains(name)) throw new InvalidDataException($"{_source.Origin}: required tensor '{name}' is missing");
        var t = _source.Get(name);
        if (t.ElementCount != length || t.Shape.Length != 1)
            throw new InvalidDataException($"{_source.Origin}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{length}]");
        var v = t.ToFloat32();
        foreach (var x in v)
            if (!float.IsFinite(x)) throw new InvalidDataException($"{_source.Origin}: tensor '{name}' contains NaN or Inf");
        return v;
    }

    /// <inheritdoc/>
    public void Dispose() => _source.Dispose();
}
