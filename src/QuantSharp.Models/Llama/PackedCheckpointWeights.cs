// Serves the linear layers of a Hugging Face GPTQ or AWQ (GEMM) checkpoint as fp32 weights, dequantized once at load.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Awq;
using QuantSharp.Formats.Gptq;

namespace QuantSharp.Models.Llama;

/// <summary>
/// A weight source over a GPTQ- or AWQ-packed safetensors model: "X.weight" of a packed module X is rebuilt from
/// X.qweight, X.qzeros, X.scales (and GPTQ's X.g_idx) as scale·(q − zero) in fp32 with the stored fp16 scales (the
/// product of an fp16 scale and a small integer is exact in fp32), i.e. exactly the weights the quantizer's engine
/// used. Other tensors pass through. <see cref="Grid"/> gives a module's integer grid itself (the GGUF import maps it
/// onto ggml blocks without re-quantizing).
/// </summary>
public sealed class PackedCheckpointWeights : IWeightSource
{
    private readonly IWeightSource _packed;
    private readonly GptqQuantizationConfig? _gptq;
    private readonly AwqQuantizationConfig? _awq;
    private readonly Dictionary<string, PinnedMatrix> _dequantized = new(StringComparer.Ordinal);
    private readonly List<string> _names = [];

    /// <summary>Wraps a GPTQ checkpoint <paramref name="packed"/> (which it disposes) using its <paramref name="config"/>.</summary>
    public PackedCheckpointWeights(IWeightSource packed, GptqQuantizationConfig config) : this(packed, config, null) { }

    /// <summary>Wraps an AWQ (GEMM) checkpoint <paramref name="packed"/> (which it disposes) using its <paramref name="config"/>.</summary>
    public PackedCheckpointWeights(IWeightSource packed, AwqQuantizationConfig config) : this(packed, null, config) { }

    private PackedCheckpointWeights(IWeightSource packed, GptqQuantizationConfig? gptq, AwqQuantizationConfig? awq)
    {
        _packed = packed;
        _gptq = gptq;
        _awq = awq;
        foreach (var n in packed.TensorNames)
        {
            if (n.EndsWith(".qweight", StringComparison.Ordinal)) _names.Add(n[..^".qweight".Length] + ".weight");
            else if (!n.EndsWith(".qzeros", StringComparison.Ordinal) && !n.EndsWith(".scales", StringComparison.Ordinal) && !n.EndsWith(".g_idx", StringComparison.Ordinal))
                _names.Add(n);
        }
    }

    /// <summary>"gptq" or "awq".</summary>
    public string Method => _awq != null ? "awq" : "gptq";

    /// <summary>Bits per weight of the packed modules.</summary>
    public int Bits => _awq?.Bits ?? _gptq!.Bits;

    /// <inheritdoc/>
    public string Origin => _packed.Origin;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    public void ThrowIfChanged() => _packed.ThrowIfChanged();

    /// <inheritdoc/>
    public bool Contains(string name) => _packed.Contains(name) || IsPacked(name);

    /// <summary>Whether <paramref name="weightName"/> ("X.weight") is stored packed (X.qweight exists).</summary>
    public bool IsPacked(string weightName) => weightName.EndsWith(".weight", StringComparison.Ordinal) && !_packed.Contains(weightName)
        && _packed.Contains(weightName[..^".weight".Length] + ".qweight");

    /// <inheritdoc/>
    public TensorView Get(string name)
    {
        if (_packed.Contains(name)) return _packed.Get(name);
        if (_dequantized.TryGetValue(name, out var m)) return m.View;
        if (!Contains(name)) throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");
        string module = name[..^".weight".Length];
        m = new PinnedMatrix(name, Grid(name).Dequantize($"{Origin}: '{module}'"), RowsOf(module), ColsOf(module), pinInPlace: true);
        _dequantized[name] = m;
        return m.View;
    }

    /// <summary>The unpacked integer grid of the packed module whose weight is <paramref name="weightName"/> ("X.weight").</summary>
    public PackedModuleGrid Grid(string weightName)
    {
        if (!IsPacked(weightName)) throw new KeyNotFoundException($"{Origin}: '{weightName}' is not a packed module (no {weightName[..^".weight".Length]}.qweight)");
        string module = weightName[..^".weight".Length];
        return _awq != null ? AwqGrid(module, _awq) : GptqGrid(module, _gptq!);
    }

    private int RowsOf(string module) => _awq != null ? checked((int)_packed.Get(module + ".qweight").Shape[1] * AwqPacking.PerWord) : checked((int)_packed.Get(module + ".qweight").Shape[1]);

    private int ColsOf(string module) => _awq != null ? checked((int)_packed.Get(module + ".qweight").Shape[0]) : checked((int)(_packed.Get(module + ".qweight").Shape[0] / _gptq!.Bits * 32));

    private PackedModuleGrid GptqGrid(string module, GptqQuantizationConfig config)
    {
        int bits = config.Bits;
        var qweight = _packed.Get(module + ".qweight");
        var qzeros = Require(module + ".qzeros");
        var scales = Require(module + ".scales");
        if (qweight.DType != DType.I32 || qweight.Shape.Length != 2) throw Bad(qweight, "int32 [in/32·bits, out]");
        int rows = checked((int)qweight.Shape[1]);
        long packedRows = qweight.Shape[0];
        if (packedRows % bits != 0) throw Bad(qweight, $"a first dimension divisible by bits = {bits}");
        int cols = checked((int)(packedRows / bits * 32));
        if (scales.DType != DType.F16 || scales.Shape.Length != 2 || scales.Shape[1] != rows) throw Bad(scales, $"float16 [groups, {rows}]");
        int groups = checked((int)scales.Shape[0]);
        if (qzeros.DType != DType.I32 || qzeros.Shape.Length != 2 || qzeros.Shape[0] != groups || qzeros.Shape[1] != (long)rows / 32 * bits)
            throw Bad(qzeros, $"int32 [{groups}, {rows / 32 * bits}]");
        int[] gIdx;
        if (_packed.Contains(module + ".g_idx"))
        {
            var g = _packed.Get(module + ".g_idx");
            if (g.DType != DType.I32 || g.ElementCount != cols) throw Bad(g, $"int32 [{cols}]");
            gIdx = MemoryMarshal.Cast<byte, int>(g.Bytes).ToArray();
        }
        else
        {
            int gs = config.GroupSize <= 0 ? cols : config.GroupSize;
            gIdx = new int[cols];
            for (int c = 0; c < cols; c++) gIdx[c] = c / gs;
        }
        foreach (int gi in gIdx)
            if ((uint)gi >= (uint)groups) throw new InvalidDataException($"{Origin}: tensor '{module}.g_idx' holds group {gi}, outside [0, {groups})");
        return new PackedModuleGrid
        {
            Rows = rows, Cols = cols, Bits = bits, Groups = groups, GroupIndex = gIdx,
            Values = GptqPacking.UnpackWeight(MemoryMarshal.Cast<byte, int>(qweight.Bytes), rows, cols, bits),
            Zeros = GptqPacking.UnpackZeros(MemoryMarshal.Cast<byte, int>(qzeros.Bytes), groups, rows, bits, config.ZerosMinusOne),
            Scales = scales.ToFloat32(),
        };
    }

    private PackedModuleGrid AwqGrid(string module, AwqQuantizationConfig config)
    {
        var qweight = _packed.Get(module + ".qweight");
        var qzeros = Require(module + ".qzeros");
        var scales = Require(module + ".scales");
        if (qweight.DType != DType.I32 || qweight.Shape.Length != 2) throw Bad(qweight, "int32 [in, out/8] (AWQ GEMM)");
        int cols = checked((int)qweight.Shape[0]);
        int rows = checked((int)qweight.Shape[1] * AwqPacking.PerWord);
        int gs = config.GroupSize <= 0 ? cols : config.GroupSize;
        if (cols % gs != 0) throw new InvalidDataException($"{Origin}: AWQ module '{module}' has {cols} input features, not a multiple of quantization_config.group_size {gs}");
        int groups = cols / gs;
        if (scales.DType != DType.F16 || scales.Shape.Length != 2 || scales.Shape[0] != groups || scales.Shape[1] != rows)
            throw Bad(scales, $"float16 [{groups}, {rows}] (group_size {gs})");
        if (qzeros.DType != DType.I32 || qzeros.Shape.Length != 2 || qzeros.Shape[0] != groups || qzeros.Shape[1] != rows / AwqPacking.PerWord)
            throw Bad(qzeros, $"int32 [{groups}, {rows / AwqPacking.PerWord}]");
        if (_packed.Contains(module + ".g_idx"))
            throw new InvalidDataException($"{Origin}: AWQ module '{module}' has a g_idx tensor; AWQ's GEMM layout has contiguous groups (is this a GPTQ checkpoint with quant_method 'awq'?)");
        var gIdx = new int[cols];
        for (int c = 0; c < cols; c++) gIdx[c] = c / gs;
        return new PackedModuleGrid
        {
            Rows = rows, Cols = cols, Bits = AwqPacking.Bits, Groups = groups, GroupIndex = gIdx,
            Values = AwqPacking.UnpackWeight(MemoryMarshal.Cast<byte, int>(qweight.Bytes), rows, cols),
            Zeros = AwqPacking.UnpackZeros(MemoryMarshal.Cast<byte, int>(qzeros.Bytes), groups, rows),
            Scales = scales.ToFloat32(),
        };
    }

    private TensorView Require(string name) => _packed.Contains(name) ? _packed.Get(name)
        : throw new InvalidDataException($"{Origin}: {Method.ToUpperInvariant()} tensor '{name}' is missing");

    private InvalidDataException Bad(TensorView t, string expected)
        => new($"{Origin}: {Method.ToUpperInvariant()} tensor '{t.Name}' is {t.DType} [{string.Join(", ", t.Shape)}], expected {expected}");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var m in _dequantized.Values) m.Dispose();
        _dequantized.Clear();
        _packed.Dispose();
    }
}
