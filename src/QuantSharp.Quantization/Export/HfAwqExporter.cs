// Hugging Face AWQ checkpoint output of a layer-streaming run (AutoAWQ's GEMM layout, loadable by transformers/vLLM/AutoAWQ).
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Awq;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// Writes an AWQ-quantized Hugging Face model folder in AutoAWQ's GEMM layout: per quantized linear module qweight
/// int32 [in, out/8], qzeros int32 [groups, out/8] (zero points stored as they are) and scales fp16 [groups, out], packed
/// as <see cref="AwqPacking"/> describes; config.json carries quantization_config {quant_method awq, version gemm, bits 4,
/// group_size, zero_point true, modules_to_not_convert null}. Everything else (embeddings, norms, biases, folder assembly,
/// fp16 scale check) is the GPTQ exporter's (<see cref="HfGptqExporter"/>).
/// <para>The format is 4-bit with contiguous groups that divide every module's input width, and always carries zero
/// points: the asymmetric grid is stored as it is; a symmetric grid (zero point 2^(bits−1) = 8 for every group) is
/// stored with those zero points, which dequantizes to the same weights — AutoAWQ's GEMM has no zero-point-free variant.
/// The rounding can be any integer-grid quantizer (RTN, GPTQ, AWQ + either): the grid is the same.</para>
/// </summary>
public static class HfAwqExporter
{
    /// <summary>Runs <paramref name="runner"/> and writes the folder <paramref name="outputFolder"/>.</summary>
    /// <param name="model">The source model (a Hugging Face folder; dense, not a mixture of experts).</param>
    /// <param name="runner">The run; its quantizer must produce integer-grid results (<see cref="QuantizedLinear.Grid"/>).</param>
    /// <param name="options">Grid settings the run uses: 4 bits, no act-order.</param>
    /// <param name="outputFolder">Destination folder; must not exist or be empty.</param>
    /// <param name="cancellationToken">Cancels; nothing is left at the destination.</param>
    public static void Export(LlamaModel model, LayerStreamingQuantizer runner, GptqOptions options, string outputFolder, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.Bits != AwqPacking.Bits) throw new NotSupportedException($"the Hugging Face AWQ (GEMM) format packs 4 bits, not {options.Bits}");
        if (options.ActOrder) throw new NotSupportedException("the Hugging Face AWQ format has no g_idx: its groups are contiguous, act-order cannot be stored");
        string source = model.Origin;
        if (!Directory.Exists(source) || !File.Exists(Path.Combine(source, "config.json")))
            throw new NotSupportedException($"{source}: the Hugging Face AWQ export needs a Hugging Face model folder (config.json, tokenizer files) as input");
        var hp = model.Parameters;
        if (hp.ExpertCount > 0)
            throw new NotSupportedException($"{source}: a mixture of experts cannot be written as hf-awq yet (its router must be listed in modules_to_not_convert, which loaders match differently); use --format hf-gptq");
        HfFolderOutput.CheckDestination(source, outputFolder);
        foreach (var (_, module, rows, cols) in HfGptqExporter.Modules(hp, 0))
        {
            int gs = options.GroupSize == 0 ? cols : options.GroupSize;
            if (rows % AwqPacking.PerWord != 0)
                throw new NotSupportedException($"{module}: {rows} output features cannot be AWQ-packed (a multiple of {AwqPacking.PerWord} is needed)");
            if (cols % gs != 0)
                throw new NotSupportedException($"{module}: {cols} input features are not a multiple of --group-size {gs}; AWQ's GEMM layout has whole groups only");
        }
        var config = new AwqQuantizationConfig { GroupSize = options.GroupSize == 0 ? -1 : options.GroupSize };
        HfGptqExporter.WritePacked(model, runner, outputFolder,
            (w, module, rows, cols, grid) => AddModule(w, module, rows, cols, options.GroupSize == 0 ? cols : options.GroupSize, grid),
            tmp => HfGptqExporter.WriteModelConfig(source, tmp, config.ToJson(), hp.TiedEmbeddings, model.Rotation), cancellationToken);
    }

    // qweight/qzeros/scales of one quantized module, packed when the writer reaches them.
    private static void AddModule(SafetensorsWriter w, string module, int rows, int cols, int groupSize, Func<GptqLayerResult> grid)
    {
        int groups = cols / groupSize;
        GptqLayerResult Grid()
        {
            var g = grid();
            if (g.Rows != rows || g.Cols != cols || g.Bits != AwqPacking.Bits || g.Groups != groups || g.GroupIndex.Length != cols)
                throw new InvalidOperationException($"{module}: quantizer returned [{g.Rows}, {g.Cols}] {g.Bits}-bit with {g.Groups} groups, expected [{rows}, {cols}] 4-bit with {groups}");
            for (int c = 0; c < cols; c++)
                if (g.GroupIndex[c] != c / groupSize)
                    throw new InvalidOperationException($"{module}: column {c} is in group {g.GroupIndex[c]}, not {c / groupSize}; the AWQ layout needs contiguous groups");
            return g;
        }
        w.AddTensor(module + ".qweight", DType.I32, [cols, rows / AwqPacking.PerWord],
            s => s.Write(MemoryMarshal.AsBytes(AwqPacking.PackWeight(Grid().QuantizedValues, rows, cols, module).AsSpan())));
        w.AddTensor(module + ".qzeros", DType.I32, [groups, rows / AwqPacking.PerWord],
            s => s.Write(MemoryMarshal.AsBytes(AwqPacking.PackZeros(Grid().Zeros, groups, rows, module).AsSpan())));
        w.AddTensor(module + ".scales", DType.F16, [groups, rows], s => s.Write(MemoryMarshal.AsBytes(HfGptqExporter.Fp16Scales(Grid(), module).AsSpan())));
    }
}
