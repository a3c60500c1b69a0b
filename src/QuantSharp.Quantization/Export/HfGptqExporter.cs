// Hugging Face GPTQ checkpoint output of a layer-streaming run (AutoGPTQ/GPTQModel layout, loadable by transformers).
using QuantSharp.Models.Architectures;
using System.Runtime.InteropServices;
using System.Text.Json;
using QuantSharp.Core.IO;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gptq;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// Writes a GPTQ-quantized Hugging Face model folder: model.safetensors with, per quantized
/// linear module, qweight/qzeros/scales/g_idx packed as AutoGPTQ packs them (see
/// <see cref="GptqPacking"/>), every other tensor (embeddings, norms, q/k/v biases, q/k norms, untied
/// lm_head) in fp16 — a layer's norms and biases as the run used them (<see cref="QuantizedDecoderLayer.Vectors"/>); config.json = the source's with quantization_config added and dtype float16;
/// quantize_config.json (AutoGPTQ); tokenizer and generation files copied. Linear layers are pulled
/// from the streaming run as the safetensors data reaches them. The folder is assembled under a
/// temporary name next to the destination and renamed when complete (removed on error or Ctrl-C).
/// <para>fp16 scales: the quantizer must return scales that are exactly fp16 values (the RTN and
/// GPTQ quantizers round each scale to fp16 before choosing the integers), so the stored checkpoint
/// dequantizes to exactly <see cref="GptqLayerResult.Dequantized"/>; a scale that is not is an error
/// here rather than a silent difference between the engine's weights and the export.</para>
/// </summary>
public static class HfGptqExporter
{
    /// <summary>Runs <paramref name="runner"/> and writes the folder <paramref name="outputFolder"/>.</summary>
    /// <param name="model">The source model (a Hugging Face folder).</param>
    /// <param name="runner">The run; its quantizer must produce integer-grid results (<see cref="QuantizedLinear.Grid"/>).</param>
    /// <param name="options">Grid settings the run uses (bits, group size, act-order, symmetry...).</param>
    /// <param name="outputFolder">Destination folder; must not exist or be empty.</param>
    /// <param name="checkpointFormat">"gptq" (v1, zeros − 1, the default of AutoGPTQ and transformers) or "gptq_v2".</param>
    /// <param name="trueSequential">Recorded as true_sequential.</param>
    /// <param name="cancellationToken">Cancels; nothing is left at the destination.</param>
    public static void Export(LlamaModel model, LayerStreamingQuantizer runner, GptqOptions options, string outputFolder,
        string checkpointFormat = "gptq", bool trueSequential = true, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (!GptqPacking.SupportedBits(options.Bits)) throw new NotSupportedException($"the Hugging Face GPTQ format packs 2, 3, 4 or 8 bits, not {options.Bits}");
        if (checkpointFormat is not ("gptq" or "gptq_v2")) throw new ArgumentException($"checkpoint format '{checkpointFormat}' is not one of gptq, gptq_v2");
        string source = model.Origin;
        if (!Directory.Exists(source) || !File.Exists(Path.Combine(source, "config.json")))
            throw new NotSupportedException($"{source}: the Hugging Face GPTQ export needs a Hugging Face model folder (config.json, tokenizer files) as input");
        var hp = model.Parameters;
        HfFolderOutput.CheckDestination(source, outputFolder);
        var packed = Modules(hp, 0).Select(m => (m.Module, m.Rows, m.Cols)).ToList();
        if (hp.ExpertCount > 0) packed.Add(("experts' gate/up/down", hp.ExpertHiddenDim, hp.Dim));
        foreach (var (name, rows, cols) in packed)
        {
            if (cols % 32 != 0 || rows % 32 != 0)
                throw new NotSupportedException($"{name}: [{rows}, {cols}] cannot be GPTQ-packed (both dimensions must be multiples of 32)");
        }

        var config = new GptqQuantizationConfig
        {
            Bits = options.Bits,
            GroupSize = options.GroupSize == 0 ? -1 : options.GroupSize,
            DescAct = options.ActOrder,
            Sym = options.Symmetric,
            TrueSequential = trueSequential,
            StaticGroups = options.StaticGroups,
            DampPercent = options.Damping,
            CheckpointFormat = checkpointFormat,
            ModulesInBlockToQuantize = hp.ExpertCount > 0 ? ModulesInBlock(hp) : null,
        };

        WritePacked(model, runner, outputFolder,
            (w, module, rows, cols, grid) => AddModule(w, module, rows, cols, options, config.ZerosMinusOne, grid),
            tmp => WriteConfig(source, tmp, config, hp.TiedEmbeddings, model.Rotation), cancellationToken);
    }

    /// <summary>Adds the packed tensors of one quantized module to the writer; <c>grid</c> is pulled when the writer reaches them.</summary>
    internal delegate void PackedModuleWriter(SafetensorsWriter writer, string module, int rows, int cols, Func<GptqLayerResult> grid);

    /// <summary>
    /// The folder both packed layouts share (GPTQ here, AWQ in <see cref="HfAwqExporter"/>): the run's layers pulled in
    /// file order, every quantized module packed by <paramref name="addModule"/>, the other tensors in fp16, the
    /// source's files copied and <paramref name="writeConfig"/> writing config.json into the temporary folder.
    /// </summary>
    internal static void WritePacked(LlamaModel model, LayerStreamingQuantizer runner, string outputFolder, PackedModuleWriter addModule,
        Action<string> writeConfig, CancellationToken cancellationToken)
    {
        // Assembled under a temporary name beside the destination (source files copied), renamed when complete.
        HfFolderOutput.Write(model.Origin, outputFolder, tmp =>
        {
            using (var cursor = new LayerCursor(runner.Run(cancellationToken)))
            {
                var writer = BuildWriter(model, cursor, addModule);
                writer.WriteFile(Path.Combine(tmp, "model.safetensors"), cancellationToken: cancellationToken);
            }
            cancellationToken.ThrowIfCancellationRequested();
            writeConfig(tmp);
        }, cancellationToken);
    }

    // The packed modules of a mixture-of-experts block relative to it (router excluded), in true-sequential groups.
    private static List<IReadOnlyList<string>> ModulesInBlock(LlamaHyperParameters hp)
    {
        var names = hp.Architecture.HfNaming;
        string prefix = LlamaLinear.Q.HfModule(0)[..^"self_attn.q_proj".Length];
        string Relative(string name) => name[prefix.Length..^".weight".Length];
        var groups = new List<IReadOnlyList<string>>
        {
            new[] { LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V }.Select(k => k.HfModule(0)[prefix.Length..]).ToList(),
            new List<string> { LlamaLinear.O.HfModule(0)[prefix.Length..] },
        };
        groups.Add(Enumerable.Range(0, hp.ExpertCount)
            .SelectMany(e => new[] { Relative(names.Name(TensorRole.ExpertGate, 0, e)), Relative(names.Name(TensorRole.ExpertUp, 0, e)) }).ToList());
        groups.Add(Enumerable.Range(0, hp.ExpertCount).Select(e => Relative(names.Name(TensorRole.ExpertDown, 0, e))).ToList());
        return groups;
    }

    /// <summary>
    /// The packed modules of a layer under the family's Hugging Face names, each with the linears it holds
    /// (one, or several fused: Phi-3's qkv_proj and gate_up_proj), its rows and columns.
    /// </summary>
    internal static IEnumerable<(LlamaLinear[] Parts, string Module, int Rows, int Cols)> Modules(LlamaHyperParameters hp, int layer)
    {
        var names = hp.Architecture.HfNaming;
        foreach (var k in LlamaLinearExtensions.All)
        {
            // A mixture of experts packs each expert as a module of its own (BuildWriter); the dense slots are empty.
            if (hp.ExpertCount > 0 && k is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down) continue;
            if (!names.IsFirstPart(k.Role())) continue;
            var parts = names.FusedParts(k.Role()).Select(LlamaLinearExtensions.FromRole).ToArray();
            int rows = parts.Sum(p => checked((int)LlamaModel.RowsOf(p.Role(), hp)));
            int cols = k switch { LlamaLinear.O => hp.QDim, LlamaLinear.Down => hp.HiddenDim, _ => hp.Dim };
            string name = names.Name(k.Role(), layer);
            yield return (parts, name[..^".weight".Length], rows, cols);
        }
    }

    private static SafetensorsWriter BuildWriter(LlamaModel model, LayerCursor cursor, PackedModuleWriter addModule)
    {
        var hp = model.Parameters;
        var w = new SafetensorsWriter();
        w.Metadata["format"] = "pt";
        var names = hp.Architecture.HfNaming;
        // Norms go back to the file family's convention (Gemma stores w of a 1 + w norm).
        float[] NormAsStored(float[] v) => model.NormShift == 0 ? v : Array.ConvertAll(v, x => x - model.NormShift);
        AddF16(w, names.TokenEmbedding, model.TokenEmbedding);
        for (int i = 0; i < hp.NumLayers; i++)
        {
            int layer = i;
            // Vectors come from the run's layer (a transform may have changed the norms), pulled when the writer reaches them.
            void AddVector(TensorRole role, bool norm)
            {
                int length = model.Layers[layer].Vector(role)!.Length;
                AddF16(w, names.Name(role, layer), length, () => norm ? NormAsStored(cursor.Layer(layer).Vector(role)) : cursor.Layer(layer).Vector(role));
            }
            AddVector(TensorRole.AttentionNorm, norm: true);
            foreach (var (parts, module, rows, cols) in Modules(hp, i))
            {
                if (parts[0] == LlamaLinear.Gate) AddVector(TensorRole.FfnNorm, norm: true);
                // One linear, or the parts of a fused module (Phi-3) with their grids stacked row-wise.
                addModule(w, module, rows, cols, () => GptqFusedModule.Join(
                    parts.Select(k => GridOf(cursor.Layer(layer)[k], module)).ToArray(), module));
            }
            if (model.Layers[i].Experts is { } experts)
            {
                // A mixture of experts: the router stays in fp16 (GPTQModel does not quantize it), each expert's
                // gate/up/down is a packed module of its own under the family's expert names.
                AddVector(TensorRole.FfnNorm, norm: true);
                // The router as the run used it (a rotation changes it), else the model's.
                AddF16(w, names.Name(TensorRole.Router, i), experts.Router, () => cursor.Layer(layer).Router);
                foreach (var k in new[] { LlamaLinear.Gate, LlamaLinear.Up, LlamaLinear.Down })
                {
                    var (role, views) = experts.For(k);
                    for (int e = 0; e < views.Length; e++)
                    {
                        int expert = e;
                        string module = names.Name(role, i, e)[..^".weight".Length];
                        addModule(w, module, (int)views[e].Rows, (int)views[e].Columns,
                            () => GridOf(cursor.Layer(layer).Expert(k, expert), module));
                    }
                }
            }
            // Biases and q/k norms stay in fp16 beside the packed modules, as GPTQModel stores them.
            foreach (var role in hp.Architecture.OptionalLayerTensors)
                AddVector(role, norm: role is not (TensorRole.QBias or TensorRole.KBias or TensorRole.VBias));
        }
        AddF16(w, names.OutputNorm, NormAsStored(model.OutputNorm));
        if (!hp.TiedEmbeddings) AddF16(w, names.Output, model.Output);
        return w;
    }

    private static GptqLayerResult GridOf(QuantizedLinear q, string module) => q.Grid
        ?? throw new InvalidOperationException($"{module}: the quantizer did not produce an integer grid (hf-gptq and hf-awq need rtn or gptq rounding)");

    // qweight/qzeros/scales/g_idx of one quantized module, packed when the writer reaches them.
    private static void AddModule(SafetensorsWriter w, string module, int rows, int cols, GptqOptions options, bool zerosMinusOne, Func<GptqLayerResult> grid)
    {
        int gs = options.GroupSize == 0 ? cols : Math.Min(options.GroupSize, cols);
        int groups = (cols + gs - 1) / gs;
        int bits = options.Bits;
        GptqLayerResult Grid()
        {
            var g = grid();
            if (g.Rows != rows || g.Cols != cols || g.Bits != bits || g.Groups != groups || g.GroupIndex.Length != cols)
                throw new InvalidOperationException($"{module}: quantizer returned [{g.Rows}, {g.Cols}] {g.Bits}-bit with {g.Groups} groups, expected [{rows}, {cols}] {bits}-bit with {groups}");
            return g;
        }
        w.AddTensor(module + ".qweight", DType.I32, [cols / 32 * bits, rows],
            s => s.Write(MemoryMarshal.AsBytes(GptqPacking.PackWeight(Grid().QuantizedValues, rows, cols, bits).AsSpan())));
        w.AddTensor(module + ".qzeros", DType.I32, [groups, rows / 32 * bits],
            s => s.Write(MemoryMarshal.AsBytes(GptqPacking.PackZeros(Grid().Zeros, groups, rows, bits, zerosMinusOne, module).AsSpan())));
        w.AddTensor(module + ".scales", DType.F16, [groups, rows], s => s.Write(MemoryMarshal.AsBytes(Fp16Scales(Grid(), module).AsSpan())));
        w.AddTensor(module + ".g_idx", DType.I32, [cols], s => s.Write(MemoryMarshal.AsBytes(Grid().GroupIndex.AsSpan())));
    }

    /// <summary>
    /// The grid's scales [groups, rows] as fp16, each exactly the value the quantizer used; a scale that is not an fp16
    /// value is an error (the checkpoint would dequantize to other weights than the run's).
    /// </summary>
    internal static Half[] Fp16Scales(GptqLayerResult g, string module)
    {
        var half = new Half[g.Scales.Length];
        for (int j = 0; j < half.Length; j++)
        {
            half[j] = (Half)g.Scales[j];
            if ((float)half[j] != g.Scales[j] || !float.IsFinite(g.Scales[j]))
                throw new InvalidDataException($"{module}: scale {g.Scales[j]} (group {j / g.Rows}, row {j % g.Rows}) is not an fp16 value; the quantizer must round scales to fp16 before choosing the integers");
        }
        return half;
    }

    // A matrix in fp16: the view's rows, or the values a streaming run supplies when the writer reaches it (null: the view's).
    private static void AddF16(SafetensorsWriter w, string name, TensorView t, Func<float[]?>? values = null)
    {
        int rows = checked((int)t.Rows), cols = checked((int)t.Columns);
        w.AddTensor(name, DType.F16, (long[])t.Shape.Clone(), s =>
        {
            var f = new float[cols];
            var h = new Half[cols];
            var supplied = values?.Invoke();
            if (supplied is not null && supplied.LongLength != (long)rows * cols)
                throw new InvalidOperationException($"{name}: {supplied.Length} values supplied for a [{rows}, {cols}] tensor");
            for (int r = 0; r < rows; r++)
            {
                if (supplied is not null) supplied.AsSpan(r * cols, cols).CopyTo(f);
                else FloatConversion.ToFloat32(t.DType, t.RowBytes(r), f);
                ToF16(name, f, h);
                s.Write(MemoryMarshal.AsBytes(h.AsSpan()));
            }
        });
    }

    private static void AddF16(SafetensorsWriter w, string name, float[] v) => AddF16(w, name, v.Length, () => v);

    // A vector whose values are asked for when the writer reaches it (a streaming run's layer vectors).
    private static void AddF16(SafetensorsWriter w, string name, int length, Func<float[]> values)
        => w.AddTensor(name, DType.F16, [length], s =>
        {
            var v = values();
            if (v.Length != length) throw new InvalidOperationException($"{name}: {v.Length} values supplied for a tensor of {length}");
            var h = new Half[v.Length];
            ToF16(name, v, h);
            s.Write(MemoryMarshal.AsBytes(h.AsSpan()));
        });

    private static void ToF16(string name, ReadOnlySpan<float> f, Span<Half> h)
    {
        foreach (var x in f)
            if (!float.IsFinite(x) || Math.Abs(x) > 65504f) throw new InvalidDataException($"{name}: value {x} does not fit in fp16");
        FloatConversion.Float32ToF16(f, h);
    }

    /// <summary>
    /// The source's config.json with <paramref name="quantizationConfig"/> added and the dtype float16, written into
    /// <paramref name="folder"/>; tie_word_embeddings false when the exported model has its own head (a rotation unties it);
    /// the rotation fused into the weights, if any, as <see cref="RotationRecord.ConfigKey"/>.
    /// </summary>
    internal static void WriteModelConfig(string source, string folder, JsonObject quantizationConfig, bool tiedEmbeddings, RotationRecord? rotation)
    {
        var root = HfFolderOutput.ReadConfig(source);
        if (rotation != null) root[RotationRecord.ConfigKey] = rotation.ToJson();
        // lm_head.weight is written exactly when the model is untied; a config saying tied would make loaders ignore it.
        if (!tiedEmbeddings) root["tie_word_embeddings"] = false;
        root["quantization_config"] = quantizationConfig;
        if (root.ContainsKey("dtype")) root["dtype"] = "float16";
        root["torch_dtype"] = "float16";
        File.WriteAllText(Path.Combine(folder, "config.json"), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static void WriteConfig(string source, string folder, GptqQuantizationConfig config, bool tiedEmbeddings, RotationRecord? rotation)
    {
        WriteModelConfig(source, folder, config.ToJson(), tiedEmbeddings, rotation);
        var opts = new JsonSerializerOptions { WriteIndented = true };
        // AutoGPTQ reads its settings from quantize_config.json.
        var qc = config.ToJson();
        qc.Remove("quant_method");
        qc["model_file_base_name"] = "model";
        qc["quant_method"] = "gptq";
        File.WriteAllText(Path.Combine(folder, "quantize_config.json"), qc.ToJsonString(opts) + "\n");
    }
}
