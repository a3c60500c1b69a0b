// Writes a model of any supported architecture as a GGUF file that llama.cpp loads, F32/F16/BF16 or block-quantized weights.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Models.Conversion;

/// <summary>
/// Exports a loaded <see cref="LlamaModel"/> (from a Hugging Face folder, a llama2.c checkpoint or a
/// GGUF) to GGUF with the metadata llama.cpp expects: hyperparameters under llama.*, the tokenizer
/// under tokenizer.ggml.*, q/k rows permuted to GGUF's interleaved RoPE where the source uses HF's
/// layout, norms in F32 and 2-D weights in the requested float type. Tensors are streamed one at a
/// time into a temporary file that is renamed only when complete.
/// </summary>
public static class GgufLlamaExporter
{
    /// <summary>llama.cpp's tensor of per-pair RoPE frequency divisors (Llama-3 scaling).</summary>
    public const string RopeFrequencyFactorsTensor = "rope_freqs.weight";

    /// <summary>llama.cpp's general.file_type codes for the float outputs.</summary>
    public static uint FileType(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.BF16 => 32,
        _ => throw new NotSupportedException($"{weightType} export is not supported here (float types only: F32, F16, BF16)"),
    };

    /// <summary>Exports <paramref name="model"/> to <paramref name="outputPath"/>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="outputPath">Destination .gguf (must not be one of the model's input files).</param>
    /// <param name="weightType">Type of 2-D weights: F32, F16 or BF16; null keeps the source's type.</param>
    /// <param name="name">general.name (defaults to the source folder or file name).</param>
    /// <param name="protectedPaths">Input files that must never be overwritten.</param>
    /// <param name="progress">Reports (tensors written, total).</param>
    /// <param name="cancellationToken">Cancels; the partial file is removed.</param>
    public static void Export(LlamaModel model, string outputPath, GgmlType? weightType = null, string? name = null,
        IEnumerable<string>? protectedPaths = null, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        GgmlType wt = weightType ?? (model.TokenEmbedding.DType switch { DType.F16 => GgmlType.F16, DType.BF16 => GgmlType.BF16, _ => GgmlType.F32 });
        Export(model, outputPath, new GgufTensorEncoding((_, _) => wt, null, FileType(wt)), name, protectedPaths, progress, cancellationToken);
    }

    /// <summary>
    /// Exports with a per-tensor choice of weight type (<paramref name="encoding"/>), e.g. a
    /// quantization recipe. Norms and other 1-D tensors stay F32.
    /// </summary>
    public static void Export(LlamaModel model, string outputPath, GgufTensorEncoding encoding, string? name = null,
        IEnumerable<string>? protectedPaths = null, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var hp = model.Parameters;
        var tok = model.Tokenizer ?? throw new InvalidDataException($"{model.Origin}: the model has no tokenizer; llama.cpp needs one in the GGUF");
        var enc = encoding;
        string arch = hp.Architecture.GgufArchitecture;
        CheckLlamaCppCanRun(model, arch);
        var naming = hp.Architecture.GgufNaming;
        var w = new GgufWriter(new GgufMetadata(outputPath));
        var md = w.Metadata;
        md.SetString(LlamaGgufNames.Architecture, arch);
        string generalName = name ?? Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(model.Origin));
        var tokenizerData = tok.ToTokenizerData();
        CheckLlamaCppLoadsVocabulary(model, generalName, tokenizerData.Tokens);
        md.SetString(LlamaGgufNames.Name, generalName);
        md.SetUInt32(LlamaGgufNames.FileType, enc.FileType);
        md.SetUInt32(LlamaGgufNames.ContextLength(arch), (uint)hp.ContextLength);
        md.SetUInt32(LlamaGgufNames.EmbeddingLength(arch), (uint)hp.Dim);
        md.SetUInt32(LlamaGgufNames.BlockCount(arch), (uint)hp.NumLayers);
        md.SetUInt32(LlamaGgufNames.FeedForwardLength(arch), (uint)hp.HiddenDim);
        md.SetUInt32(LlamaGgufNames.RopeDimensionCount(arch), (uint)hp.HeadDim);
        md.SetUInt32(LlamaGgufNames.HeadCount(arch), (uint)hp.NumHeads);
        md.SetUInt32(LlamaGgufNames.HeadCountKv(arch), (uint)hp.NumKvHeads);
        if (hp.HeadDim * hp.NumHeads != hp.Dim)
        {
            md.SetUInt32(LlamaGgufNames.KeyLength(arch), (uint)hp.HeadDim);
            md.SetUInt32(LlamaGgufNames.ValueLength(arch), (uint)hp.HeadDim);
        }
        md.SetFloat32(LlamaGgufNames.RmsNormEpsilon(arch), hp.RmsNormEps);
        md.SetFloat32(LlamaGgufNames.RopeFreqBase(arch), hp.RopeTheta);
        md.SetUInt32(LlamaGgufNames.VocabSize(arch), (uint)hp.VocabSize);
        if (hp.SlidingWindow is { } sw) md.SetUInt32($"{arch}.attention.sliding_window", (uint)sw);
        if (hp.ExpertCount > 0)
        {
            md.SetUInt32($"{arch}.expert_count", (uint)hp.ExpertCount);
            md.SetUInt32($"{arch}.expert_used_count", (uint)hp.ExpertsPerToken);
            // llama.cpp's "llama" (Mixtral) reads the experts' width from feed_forward_length, qwen3moe from its own key.
            if (arch == "llama") md.SetUInt32(LlamaGgufNames.FeedForwardLength(arch), (uint)hp.ExpertHiddenDim);
            else md.SetUInt32($"{arch}.expert_feed_forward_length", (uint)hp.ExpertHiddenDim);
        }
        if (hp.RopeScaling is { Type: "linear" } lin)
        {
            md.SetString($"{arch}.rope.scaling.type", "linear");
            md.SetFloat32($"{arch}.rope.scaling.factor", (float)lin.Factor);
        }
        // How the weights were rotated, when they were (quantsharp.rotation.*; llama.cpp ignores the keys).
        model.Rotation?.WriteGguf(md);
        GgufTokenizerMetadata.Write(md, tokenizerData);
        // Files with block-quantized tensors only: a float file from a layer-streaming run (its layers supplied by
        // LayerTensors) is the file `convert` writes, without the key. llama_ftype 0, 1, 32: ALL_F32, MOSTLY_F16, MOSTLY_BF16.
        bool floatFile = enc.FileType is 0 or 1 or 32;
        if (!floatFile && (enc.Encoder != null || enc.LayerTensors != null)) md.SetUInt32(LlamaGgufNames.QuantizationVersion, 2);

        // llama.cpp's "llama" pairs RoPE dimensions (2i, 2i+1), so Hugging Face's q/k rows are permuted as its
        // converter does; NeoX-style families (Qwen) keep Hugging Face's row order.
        var target = hp.Architecture.GgufRopeLayout;
        if (hp.RopeLayout == RopeLayout.Interleaved && target == RopeLayout.HalfSplit)
            throw new NotSupportedException($"{model.Origin}: {hp.Architecture.Name} weights in interleaved RoPE layout cannot be written as '{arch}' (NeoX layout)");
        bool permute = hp.RopeLayout == RopeLayout.HalfSplit && target == RopeLayout.Interleaved;
        var scratch = new EncodeScratch();
        AddMatrix(w, naming.TokenEmbedding, model.TokenEmbedding, enc, scratch);
        for (int i = 0; i < hp.NumLayers; i++)
        {
            var l = model.Layers[i];
            int layer = i;
            // A layer-streaming run supplies the vectors it used (a transform may have changed the norms); asked for when
            // the writer reaches them, so the run's layer order is the file's.
            Func<float[]> Vector(TensorRole role) => enc.LayerVectors is { } src ? () => src(layer, role) : () => l.Vector(role)!;
            AddVector(w, naming.AttentionNorm(i), l.AttentionNorm.Length, Vector(TensorRole.AttentionNorm));
            foreach (var linear in LlamaLinearExtensions.All)
            {
                if (linear == LlamaLinear.Gate) AddVector(w, naming.FfnNorm(i), l.FfnNorm.Length, Vector(TensorRole.FfnNorm));
                if (l.Experts is { } ex && linear is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down)
                {
                    if (linear == LlamaLinear.Gate) AddF32(w, naming.Name(TensorRole.Router, i), ex.Router, enc.LayerRouters is { } routers ? () => routers(layer) : null);
                    var (role, views) = ex.For(linear);
                    AddStacked(w, naming.Name(role, i), views, enc, scratch, i, linear);
                    continue;
                }
                // A fused tensor (phi3's attn_qkv, ffn_up = gate ‖ up) is written once, at its first part, from all its parts.
                if (!naming.IsFirstPart(linear.Role())) continue;
                var parts = naming.FusedParts(linear.Role()).Select(LlamaLinearExtensions.FromRole).ToArray();
                AddMatrix(w, naming.Name(linear.Role(), i), parts, l, enc, scratch, permute, hp.HeadDim, i);
            }
            foreach (var role in hp.Architecture.OptionalLayerTensors)
            {
                // Biases of q/k would need the same row permutation; no permuted family has them.
                if (permute && role is TensorRole.QBias or TensorRole.KBias)
                    throw new NotSupportedException($"{model.Origin}: q/k biases with a RoPE row permutation are not supported");
                AddVector(w, naming.Name(role, i), l.Vector(role)!.Length, Vector(role));
            }
        }
        AddVector(w, naming.OutputNorm, model.OutputNorm);
        if (!hp.TiedEmbeddings) AddMatrix(w, naming.Output, model.Output, enc, scratch);
        if (hp.RopeScaling is { Type: "llama3" } || hp.RopeFrequencyFactors != null)
        {
            var factors = new float[hp.HeadDim / 2];
            for (int i = 0; i < factors.Length; i++)
                factors[i] = hp.RopeFrequencyFactors?[i] ?? (float)hp.RopeFrequencyFactor(Math.Pow(hp.RopeTheta, -2.0 * i / hp.HeadDim));
            AddVector(w, RopeFrequencyFactorsTensor, factors);
        }

        int total = w.Tensors.Count, done = 0;
        var protect = new List<string>(protectedPaths ?? []);
        protect.Add(model.Origin);
        if (Directory.Exists(model.Origin)) protect.AddRange(Directory.GetFiles(model.Origin));
        progress?.Report((0, total));
        _progressHook = () => progress?.Report((++done, total));
        try { w.WriteFile(outputPath, protect, cancellationToken); }
        finally { _progressHook = null; }
    }

    /// <summary>
    /// Refuses a model that llama.cpp would run as a different function: a sliding window in a family whose
    /// llama.cpp graph has none, or one whose layer pattern, local RoPE base or query scale differ from the
    /// fixed rules llama.cpp applies to the family.
    /// </summary>
    private static void CheckLlamaCppCanRun(LlamaModel model, string arch)
    {
        var hp = model.Parameters;
        var rule = hp.Architecture.GgufSlidingWindowRule;
        string Why(string what) => $"{model.Origin}: {what} cannot be written: llama.cpp's '{arch}' architecture would compute a different model";
        if (hp.Architecture.GgufNeedsQueryWidthEqualHidden && hp.QDim != hp.Dim)
            throw new NotSupportedException(Why($"heads × head_dim = {hp.QDim} ≠ hidden {hp.Dim}") + " (it sizes attn_output [hidden, hidden])");
        if (hp.ExpertCount > 0 && !hp.NormalizeTopK)
            throw new NotSupportedException(Why("norm_topk_prob false") + " (it renormalises the top-k routing weights)");
        if (rule is not { } r)
        {
            if (hp.SlidingWindow is { } window)
                throw new NotSupportedException(Why($"sliding_window {window} (shorter than the context of {hp.ContextLength})") + " (it has no sliding window)");
            if (hp.QueryPreAttentionScalar is { } q0) throw new NotSupportedException(Why($"query_pre_attn_scalar {q0}"));
            return;
        }
        for (int i = 0; i < hp.NumLayers; i++)
            if ((hp.WindowOf(i) != null) != (i % r.Pattern < r.Pattern - 1))
                throw new NotSupportedException(Why($"layer {i} {(hp.WindowOf(i) != null ? "with" : "without")} a sliding window") + $" (it makes every {r.Pattern}th layer global)");
        if (hp.RopeLocalTheta is { } local && local != r.LocalRopeTheta)
            throw new NotSupportedException(Why($"rope_local_base_freq {local}") + $" (it uses {r.LocalRopeTheta})");
        float expected = hp.NumLayers == 62 ? (float)hp.Dim / hp.NumHeads : hp.HeadDim;
        if ((hp.QueryPreAttentionScalar ?? hp.HeadDim) != expected)
            throw new NotSupportedException(Why($"query_pre_attn_scalar {hp.QueryPreAttentionScalar}") + $" (it uses {expected} for {hp.NumLayers} layers)");
    }

    /// <summary>
    /// llama.cpp b8390 gives Phi-3's special tokens their whitespace-strip attributes by name: when general.name contains
    /// "phi3" or "phi-3" (any case) it looks up "&lt;/s&gt;", "&lt;unk&gt;", "&lt;s&gt;" and "&lt;|endoftext|&gt;" and fails to load
    /// the file ("error loading model vocabulary") when one is missing. Such a name with such a vocabulary is refused here.
    /// </summary>
    private static void CheckLlamaCppLoadsVocabulary(LlamaModel model, string generalName, IReadOnlyList<string> tokens)
    {
        string lower = generalName.ToLowerInvariant();
        if (!lower.Contains("phi3", StringComparison.Ordinal) && !lower.Contains("phi-3", StringComparison.Ordinal)) return;
        var have = new HashSet<string>(tokens, StringComparer.Ordinal);
        var missing = new[] { "</s>", "<unk>", "<s>", "<|endoftext|>" }.Where(t => !have.Contains(t)).ToArray();
        if (missing.Length > 0)
            throw new NotSupportedException($"{model.Origin}: general.name '{generalName}' makes llama.cpp look up the Phi-3 tokens {string.Join(", ", missing)}, which this vocabulary lacks, and fail to load the file; choose another name");
    }

    /// <summary>
    /// The 2-D weights <see cref="Export(LlamaModel, string, GgufTensorEncoding, string?, IEnumerable{string}?, IProgress{ValueTuple{int, int}}?, CancellationToken)"/>
    /// writes for <paramref name="model"/>, by GGUF name with their (rows, columns) and the number of matrices they stack
    /// (experts; 1 for a 2-D weight): the tensors a quantization recipe chooses types for.
    /// </summary>
    public static IReadOnlyList<(string Name, long Rows, long Columns, int Matrices)> Matrices(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var list = new List<(string, long, long, int)>();
        void Add(string name, TensorView t) => list.Add((name, t.Rows, t.Columns, 1));
        Add(LlamaGgufNames.TokenEmbedding, model.TokenEmbedding);
        var naming = model.Parameters.Architecture.GgufNaming;
        for (int i = 0; i < model.Parameters.NumLayers; i++)
            foreach (var linear in LlamaLinearExtensions.All)
            {
                if (model.Layers[i].Experts is { } ex && linear is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down)
                {
                    // Stacked experts: one tensor of experts × rows rows (the router stays F32 and is not listed).
                    var (role, views) = ex.For(linear);
                    list.Add((naming.Name(role, i), views.Length * views[0].Rows, views[0].Columns, views.Length));
                    continue;
                }
                // A fused tensor once, with the rows of all its parts.
                if (!naming.IsFirstPart(linear.Role())) continue;
                long rows = naming.FusedParts(linear.Role()).Sum(p => model.Layers[i].Weight(LlamaLinearExtensions.FromRole(p)).Rows);
                list.Add((naming.Name(linear.Role(), i), rows, model.Layers[i].Weight(linear).Columns, 1));
            }
        if (!model.Parameters.TiedEmbeddings) Add(LlamaGgufNames.Output, model.Output);
        return list;
    }

    [ThreadStatic] private static Action? _progressHook;

    private static void WriteEncodedRows(Stream s, string name, GgmlType type, int rows, int cols, (GgmlType Type, ReadOnlyMemory<byte> Bytes) encoded, bool permute, int headDim)
    {
        if (encoded.Type != type)
            throw new InvalidOperationException($"{name}: the quantizer produced {encoded.Type} but the file declares {type}");
        long rowBytes = GgmlTypeInfo.Of(type).TensorByteSize([cols]);
        if (encoded.Bytes.Length != rowBytes * rows)
            throw new InvalidOperationException($"{name}: the quantizer produced {encoded.Bytes.Length} bytes, expected {rowBytes * rows}");
        if (!permute) { s.Write(encoded.Bytes.Span); return; }
        // Rows are independent in every ggml type, so the RoPE permutation applies to encoded rows as to floats.
        for (int r = 0; r < rows; r++)
            s.Write(encoded.Bytes.Span.Slice((int)(RopePermutation.SourceRow(r, headDim) * rowBytes), (int)rowBytes));
    }

    private static void AddVector(GgufWriter w, string name, float[] values) => AddVector(w, name, values.Length, () => values);

    // A vector whose values are asked for when the writer reaches it (a streaming run's layer vectors).
    private static void AddVector(GgufWriter w, string name, int length, Func<float[]> values)
        => w.AddTensor(name, GgmlType.F32, [length], s =>
        {
            var v = values();
            if (v.Length != length) throw new InvalidOperationException($"{name}: {v.Length} values supplied for a tensor of {length}");
            s.Write(MemoryMarshal.AsBytes(v.AsSpan()));
            _progressHook?.Invoke();
        });

    /// <summary>A model-level matrix (embedding, classifier).</summary>
    private static void AddMatrix(GgufWriter w, string name, TensorView t, GgufTensorEncoding enc, EncodeScratch scratch)
    {
        int rows = checked((int)t.Rows), cols = checked((int)t.Columns);
        var type = enc.TypeFor(name, [rows, cols]);
        w.AddTensor(name, type, [rows, cols], s =>
        {
            WriteView(s, name, type, t, enc, scratch, false, 0);
            _progressHook?.Invoke();
        });
    }

    /// <summary>
    /// A layer's linear, or several linears fused into one tensor (their rows concatenated in <paramref name="parts"/>
    /// order). Every ggml type encodes rows independently (an importance matrix weights columns, which the parts
    /// share), so encoding part by part gives the bytes llama-quantize gives for the fused tensor.
    /// </summary>
    private static void AddMatrix(GgufWriter w, string name, LlamaLinear[] parts, LlamaLayerWeights l, GgufTensorEncoding enc, EncodeScratch scratch,
        bool permute, int headDim, int layer)
    {
        int rows = parts.Sum(p => checked((int)l.Weight(p).Rows)), cols = checked((int)l.Weight(parts[0]).Columns);
        var type = enc.TypeFor(name, [rows, cols]);
        w.AddTensor(name, type, [rows, cols], s =>
        {
            foreach (var linear in parts)
            {
                var t = l.Weight(linear);
                bool rotated = permute && linear is LlamaLinear.Q or LlamaLinear.K;
                if (enc.LayerTensors != null)
                    WriteEncodedRows(s, name, type, checked((int)t.Rows), cols, enc.LayerTensors(layer, linear, -1), rotated, headDim);
                else
                    WriteView(s, name, type, t, enc, scratch, rotated, headDim);
            }
            _progressHook?.Invoke();
        });
    }

    /// <summary>Experts' matrices stacked into one [experts, rows, columns] tensor, as llama.cpp's ffn_*_exps.</summary>
    private static void AddStacked(GgufWriter w, string name, TensorView[] experts, GgufTensorEncoding enc, EncodeScratch scratch, int layer, LlamaLinear linear)
    {
        long rows = experts[0].Rows, cols = experts[0].Columns;
        var type = enc.TypeFor(name, [experts.Length, rows, cols]);
        w.AddTensor(name, type, [experts.Length, rows, cols], s =>
        {
            for (int e = 0; e < experts.Length; e++)
            {
                if (enc.LayerTensors != null)
                    WriteEncodedRows(s, name, type, (int)rows, (int)cols, enc.LayerTensors(layer, linear, e), false, 0);
                else
                    WriteView(s, name, type, experts[e], enc, scratch, false, 0, e);
            }
            _progressHook?.Invoke();
        });
    }

    /// <summary>A matrix kept in F32 whatever the recipe (llama.cpp never quantizes the MoE router, ffn_gate_inp).</summary>
    // A matrix stored in F32 (a router): the model's view, or the values a streaming run supplies when the writer reaches it
    // (null from the run: the view's).
    private static void AddF32(GgufWriter w, string name, TensorView t, Func<float[]?>? values = null)
        => w.AddTensor(name, GgmlType.F32, [t.Rows, t.Columns], s =>
        {
            if (values?.Invoke() is { } v)
            {
                if (v.LongLength != t.Rows * t.Columns) throw new InvalidOperationException($"{name}: {v.Length} values supplied for a [{t.Rows}, {t.Columns}] tensor");
                s.Write(MemoryMarshal.AsBytes(v.AsSpan()));
                _progressHook?.Invoke();
                return;
            }
            var f = new float[t.Columns];
            for (long r = 0; r < t.Rows; r++)
            {
                FloatConversion.ToFloat32(t.DType, t.RowBytes(r), f);
                s.Write(MemoryMarshal.AsBytes(f.AsSpan()));
            }
            _progressHook?.Invoke();
        });

    /// <summary>Writes the rows of <paramref name="t"/> in <paramref name="type"/>: floats row by row, block types through the encoder.</summary>
    private static void WriteView(Stream s, string name, GgmlType type, TensorView t, GgufTensorEncoding enc, EncodeScratch scratch, bool permute, int headDim,
        int matrix = 0)
    {
        int rows = checked((int)t.Rows), cols = checked((int)t.Columns);
        bool block = type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);
        if (block)
        {
            if (enc.Encoder is null) throw new NotSupportedException($"{name}: {type} needs a block encoder");
            WriteBlockEncoded(s, name, matrix, type, t, rows, cols, enc.Encoder, permute, headDim, scratch);
            return;
        }
        // Float outputs stream row by row.
        var f = new float[cols];
        var outRow = new byte[cols * (type == GgmlType.F32 ? 4 : 2)];
        for (int r = 0; r < rows; r++)
        {
            int src = permute ? RopePermutation.SourceRow(r, headDim) : r;
            var dst = f.AsSpan();
            FloatConversion.ToFloat32(t.DType, t.RowBytes(src), dst);
            foreach (var x in dst)
            {
                if (!float.IsFinite(x)) throw new InvalidDataException($"{t.Name}: row {src} contains NaN or Inf; refusing to export a broken model");
                if (type == GgmlType.F16 && Math.Abs(x) > 65504f)
                    throw new InvalidDataException($"{t.Name}: value {x} in row {src} overflows F16; export as BF16 or F32 instead");
            }
            switch (type)
            {
                case GgmlType.F32: MemoryMarshal.AsBytes(f.AsSpan()).CopyTo(outRow); break;
                case GgmlType.F16: FloatConversion.Float32ToF16(f, MemoryMarshal.Cast<byte, Half>(outRow.AsSpan())); break;
                case GgmlType.BF16: FloatConversion.Float32ToBF16(f, MemoryMarshal.Cast<byte, ushort>(outRow.AsSpan())); break;
            }
            s.Write(outRow);
        }
    }

    /// <summary>
    /// Buffers one export reuses from tensor to tensor (tensors are written one at a time): the fp32
    /// copy of a block-encoded tensor and its encoding, so that large tensors are not allocated and
    /// zeroed afresh each time.
    /// </summary>
    private sealed class EncodeScratch
    {
        private float[] _values = [];
        private byte[] _bytes = [];

        public Span<float> Values(long count) =>
            (count <= _values.Length ? _values : _values = GC.AllocateUninitializedArray<float>(checked((int)count))).AsSpan(0, (int)count);

        public Span<byte> Bytes(long count) =>
            (count <= _bytes.Length ? _bytes : _bytes = GC.AllocateUninitializedArray<byte>(checked((int)count))).AsSpan(0, (int)count);
    }

    /// <summary>
    /// Encodes a whole tensor with a block type (one tensor in fp32 at most). An F32 source in file
    /// order is encoded straight from its mapping; anything else is converted (and permuted) first.
    /// </summary>
    private static unsafe void WriteBlockEncoded(Stream s, string name, int matrix, GgmlType type, TensorView t, int rows, int cols, BlockRowEncoder encoder,
        bool permute, int headDim, EncodeScratch scratch)
    {
        long count = (long)rows * cols;
        ReadOnlySpan<float> values;
        if (t.DType == DType.F32 && !permute)
        {
            values = new ReadOnlySpan<float>(t.Pointer, checked((int)count));
        }
        else
        {
            var f = scratch.Values(count);
            for (int r = 0; r < rows; r++)
            {
                int src = permute ? RopePermutation.SourceRow(r, headDim) : r;
                FloatConversion.ToFloat32(t.DType, t.RowBytes(src), f.Slice(r * cols, cols));
            }
            values = f;
        }
        int bad = FiniteCheck.FirstNonFinite(values);
        if (bad >= 0)
        {
            int r = bad / cols;
            throw new InvalidDataException($"{t.Name}: row {(permute ? RopePermutation.SourceRow(r, headDim) : r)} contains NaN or Inf; refusing to export a broken model");
        }
        var bytes = scratch.Bytes(GgmlTypeInfo.Of(type).TensorByteSize([cols, rows]));
        encoder(name, matrix, type, values, cols, bytes);
        s.Write(bytes);
    }
}
