// GPTQ / AWQ checkpoint → GGUF without re-quantizing: the checkpoint's 4-bit grid written as ggml Q4_0 / Q4_1 blocks.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Gptq;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Models.Conversion;

/// <summary>
/// The exporter encoding that writes a loaded GPTQ or AWQ folder (<see cref="PackedCheckpointWeights"/>) as GGUF with
/// every packed linear stored as the ggml blocks that hold its integer grid exactly, instead of re-quantizing the
/// dequantized weights:
/// <list type="bullet">
/// <item>4-bit, every 32-column block inside one group (group size a multiple of 32, one group per row, or act-order
/// with static groups) and every zero point 8: <b>Q4_0</b>, d = scale (ggml: w = d·(q − 8)) — bit-exact.</item>
/// <item>4-bit with other zero points, same grouping: <b>Q4_1</b>, d = scale, m = −scale·zero (ggml: w = d·q + m) —
/// exact up to the fp16 rounding of m (|Δm| ≤ 2^−11·|m|, at most 2^-7 of a step for zero ≤ 16).</item>
/// </list>
/// Anything else (2, 3 or 8 bits; act-order g_idx that puts one 32-column block into several groups) has no ggml block
/// of the same grid and is refused with an error naming the tensor and why, pointing at <c>--outtype f16</c> (the
/// dequantized weights, exact in f32) and <c>quantsharp quantize --type</c>; nothing is silently re-quantized.
/// Token embedding and classifier keep their stored float type (the exporters write fp16), norms are F32, as in the
/// plain conversion. q/k rows are permuted for GGUF's RoPE layout by the exporter (ggml rows are independent).
/// </summary>
public static class PackedCheckpointGgufImport
{
    private const int Block = 32;

    /// <summary>What one GGUF tensor became, for the caller's report.</summary>
    /// <param name="Name">GGUF tensor name.</param>
    /// <param name="Type">Q4_0 or Q4_1.</param>
    /// <param name="MaxMinimumRounding">Largest |fp16(m) − m| / scale over the tensor's blocks (0 for Q4_0): the only loss.</param>
    public readonly record struct TensorChoice(string Name, GgmlType Type, double MaxMinimumRounding);

    /// <summary>
    /// The encoding for <paramref name="model"/> (loaded from a GPTQ/AWQ folder) and the per-tensor choices; throws
    /// <see cref="NotSupportedException"/> naming the first tensor whose grid has no exact ggml block.
    /// </summary>
    public static (GgufTensorEncoding Encoding, IReadOnlyList<TensorChoice> Tensors) Encoding(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Source is not PackedCheckpointWeights packed)
            throw new NotSupportedException($"{model.Origin}: not a GPTQ or AWQ checkpoint (format {model.Format}); the block import needs packed qweight/qzeros/scales");
        var hp = model.Parameters;
        var hf = hp.Architecture.HfNaming;
        var gguf = hp.Architecture.GgufNaming;
        var parts = new Dictionary<string, List<Part>>(StringComparer.Ordinal);
        for (int i = 0; i < hp.NumLayers; i++)
            foreach (var linear in LlamaLinearExtensions.All)
            {
                if (model.Layers[i].Experts is { } ex && linear is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down)
                {
                    var (role, views) = ex.For(linear);
                    for (int e = 0; e < views.Length; e++)
                        Add(parts, gguf.Name(role, i), new Part(i, linear, e, hf.Name(role, i, e), 0, checked((int)views[e].Rows)));
                    continue;
                }
                var r = linear.Role();
                long offset = 0;
                foreach (var p in hf.FusedParts(r))
                {
                    if (p == r) break;
                    offset += LlamaModel.RowsOf(p, hp);
                }
                Add(parts, gguf.Name(r, i), new Part(i, linear, -1, hf.Name(r, i), checked((int)offset), checked((int)LlamaModel.RowsOf(r, hp))));
            }

        // Types first (the tensor table is written before any data): each tensor's parts must all map exactly.
        var types = new Dictionary<string, GgmlType>(StringComparer.Ordinal);
        var choices = new List<TensorChoice>();
        var cache = new GridCache(packed);
        foreach (var (name, list) in parts)
        {
            bool allEight = true;
            double rounding = 0;
            foreach (var part in list)
            {
                if (!packed.IsPacked(part.Module))
                    throw new NotSupportedException($"{model.Origin}: '{part.Module}' is not packed in this checkpoint (a module left unquantized); the block import needs every linear packed — use --outtype f16");
                var g = cache.Get(part.Module);
                string? why = WhyNotExact(g);
                if (why != null)
                    throw new NotSupportedException($"{model.Origin}: '{part.Module}' ({name}) cannot be written as a ggml block type without re-quantizing: {why}. "
                        + "Use `quantsharp convert --outtype f16` (the dequantized weights) and quantize that with `quantsharp quantize --type`");
                for (int gi = 0; gi < g.Groups; gi++)
                    for (int o = part.RowOffset; o < part.RowOffset + part.Rows; o++)
                    {
                        int z = g.Zeros[gi * g.Rows + o];
                        float s = g.Scales[gi * g.Rows + o];
                        if (z != 8) allEight = false;
                        float m = -s * z;
                        if (!float.IsFinite(m) || Math.Abs(m) > 65504f)
                            throw new NotSupportedException($"{model.Origin}: '{part.Module}' group {gi} row {o}: the minimum −scale·zero = {m} does not fit fp16 (Q4_1's m)");
                        if (s != 0) rounding = Math.Max(rounding, Math.Abs((double)(float)(Half)m - m) / Math.Abs(s));
                    }
            }
            var type = allEight ? GgmlType.Q4_0 : GgmlType.Q4_1;
            types[name] = type;
            choices.Add(new TensorChoice(name, type, allEight ? 0 : rounding));
        }

        var byLinear = parts.SelectMany(kv => kv.Value.Select(p => (p, kv.Key))).ToDictionary(x => (x.p.Layer, x.p.Linear, x.p.Expert), x => (x.p, x.Key));
        GgmlType FloatType(DType t) => t switch { DType.F32 => GgmlType.F32, DType.BF16 => GgmlType.BF16, _ => GgmlType.F16 };
        var embedding = FloatType(model.TokenEmbedding.DType);
        var output = FloatType(model.Output.DType);
        var encoding = new GgufTensorEncoding(
            (name, _) => types.TryGetValue(name, out var t) ? t : name == gguf.Output ? output : embedding,
            null,
            FileType: types.Values.Any(t => t == GgmlType.Q4_1) ? 3u : 2u,   // llama_ftype MOSTLY_Q4_1 / MOSTLY_Q4_0
            LayerTensors: (layer, linear, expert) =>
            {
                var (part, name) = byLinear[(layer, linear, expert)];
                var type = types[name];
                return (type, Encode(cache.Get(part.Module), part.RowOffset, part.Rows, type));
            });
        return (encoding, choices);
    }

    private static void Add(Dictionary<string, List<Part>> d, string name, Part p)
    {
        if (!d.TryGetValue(name, out var list)) d[name] = list = [];
        list.Add(p);
    }

    /// <summary>Null when <paramref name="g"/> maps onto 4-bit 32-value blocks exactly, else the reason.</summary>
    public static string? WhyNotExact(PackedModuleGrid g)
    {
        if (g.Bits != 4) return $"{g.Bits}-bit grid (ggml's 4-bit blocks Q4_0/Q4_1 are the only exact targets)";
        if (g.Cols % Block != 0) return $"{g.Cols} input features are not a multiple of {Block}";
        for (int c = 0; c < g.Cols; c += Block)
            for (int j = 1; j < Block; j++)
                if (g.GroupIndex[c + j] != g.GroupIndex[c])
                    return $"columns {c}…{c + Block - 1} span groups {g.GroupIndex[c]} and {g.GroupIndex[c + j]} (act-order g_idx or a group size that is not a multiple of {Block}); a ggml block has one scale";
        return null;
    }

    /// <summary>Rows [<paramref name="rowOffset"/>, +<paramref name="rows"/>) of <paramref name="g"/> as ggml Q4_0 or Q4_1 blocks.</summary>
    public static byte[] Encode(PackedModuleGrid g, int rowOffset, int rows, GgmlType type)
    {
        int blockBytes = type == GgmlType.Q4_0 ? 18 : 20;
        int blocks = g.Cols / Block;
        var bytes = new byte[(long)rows * blocks * blockBytes];
        var span = bytes.AsSpan();
        for (int r = 0; r < rows; r++)
        {
            int o = rowOffset + r;
            for (int b = 0; b < blocks; b++)
            {
                int gi = g.GroupIndex[b * Block];
                float s = g.Scales[gi * g.Rows + o];
                int z = g.Zeros[gi * g.Rows + o];
                var blk = span.Slice((int)(((long)r * blocks + b) * blockBytes), blockBytes);
                BitConverter.TryWriteBytes(blk, (Half)s);
                int qs = 2;
                if (type == GgmlType.Q4_1)
                {
                    if (z < 0) throw new InvalidDataException($"zero point {z} at group {gi}, row {o}");
                    // ggml: w = d·q + m; the product s·z is exact in fp32 (fp16 scale × integer ≤ 16), rounded once to fp16.
                    BitConverter.TryWriteBytes(blk[2..], (Half)(-s * z));
                    qs = 4;
                }
                else if (z != 8) throw new InvalidOperationException($"Q4_0 needs zero point 8, found {z} at group {gi}, row {o}");
                // ggml's nibble order: byte j holds value j (low nibble) and value j + 16 (high nibble).
                int baseIdx = o * g.Cols + b * Block;
                for (int j = 0; j < Block / 2; j++)
                    blk[qs + j] = (byte)(g.Values[baseIdx + j] | (g.Values[baseIdx + j + Block / 2] << 4));
            }
        }
        return bytes;
    }

    /// <summary>One engine linear inside a GGUF tensor: its checkpoint module and its rows there.</summary>
    private sealed record Part(int Layer, LlamaLinear Linear, int Expert, string Module, int RowOffset, int Rows);

    /// <summary>The last module's grid: fused parts (Phi-3's qkv_proj) are written one after another from the same module.</summary>
    private sealed class GridCache(PackedCheckpointWeights source)
    {
        private string? _module;
        private PackedModuleGrid? _grid;

        public PackedModuleGrid Get(string module)
        {
            if (_module != module) { _grid = source.Grid(module); _module = module; }
            return _grid!;
        }
    }
}
