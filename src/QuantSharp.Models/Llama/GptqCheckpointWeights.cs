// Serves the linear layers of a Hugging Face GPTQ checkpoint as fp32 weights, dequantized once at load.
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Gptq;

namespace QuantSharp.Models.Llama;

/// <summary>
/// A weight source over a GPTQ-packed safetensors model: "X.weight" of a quantized module X is
/// rebuilt from X.qweight, X.qzeros, X.scales and X.g_idx as scales[g_idx[c], o]·(q − zero) in
/// fp32 with the stored fp16 scales (the product of an fp16 scale and a small integer is exact in
/// fp32), i.e. exactly the weights the quantizer's engine used. Other tensors pass through.
/// </summary>
public sealed class GptqCheckpointWeights : IWeightSource
{
    private readonly IWeightSource _packed;
    private readonly GptqQuantizationConfig _config;
    private readonly Dictionary<string, PinnedMatrix> _dequantized = new(StringComparer.Ordinal);
    private readonly List<string> _names = [];

    /// <summary>Wraps <paramref name="packed"/> (which it disposes) using the checkpoint's <paramref name="config"/>.</summary>
    public GptqCheckpointWeights(IWeightSource packed, GptqQuantizationConfig config)
    {
        _packed = packed;
        _config = config;
        foreach (var n in packed.TensorNames)
        {
            if (n.EndsWith(".qweight", StringComparison.Ordinal)) _names.Add(n[..^".qweight".Length] + ".weight");
            else if (!n.EndsWith(".qzeros", StringComparison.Ordinal) && !n.EndsWith(".scales", StringComparison.Ordinal) && !n.EndsWith(".g_idx", StringComparison.Ordinal))
                _names.Add(n);
        }
    }

    /// <inheritdoc/>
    public string Origin => _packed.Origin;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    /// <inheritdoc/>
    public void ThrowIfChanged() => _packed.ThrowIfChanged();

    public bool Contains(string name) => _packed.Contains(name) || (name.EndsWith(".weight", StringComparison.Ordinal) && _packed.Contains(name[..^".weight".Length] + ".qweight"));

    /// <inheritdoc/>
    public TensorView Get(string name)
    {
        if (_packed.Contains(name)) return _packed.Get(name);
        if (_dequantized.TryGetValue(name, out var m)) return m.View;
        if (!Contains(name)) throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");
        m = Dequantize(name[..^".weight".Length], name);
        _dequantized[name] = m;
        return m.View;
    }

    private PinnedMatrix Dequantize(string module, string name)
    {
        int bits = _config.Bits;
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
            int gs = _config.GroupSize <= 0 ? cols : _config.GroupSize;
            gIdx = new int[cols];
            for (int c = 0; c < cols; c++) gIdx[c] = c / gs;
        }
        foreach (int gi in gIdx)
            if ((uint)gi >= (uint)groups) throw new InvalidDataException($"{Origin}: tensor '{module}.g_idx' holds group {gi}, outside [0, {groups})");
        var q = GptqPacking.UnpackWeight(MemoryMarshal.Cast<byte, int>(qweight.Bytes), rows, cols, bits);
        var zeros = GptqPacking.UnpackZeros(MemoryMarshal.Cast<byte, int>(qzeros.Bytes), groups, rows, bits, _config.ZerosMinusOne);
        var s = scales.ToFloat32();
        var w = new float[(long)rows * cols];
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++)
            {
                int g = gIdx[c];
                float v = s[(long)g * rows + o] * (q[(long)o * cols + c] - zeros[(long)g * rows + o]);
                if (!float.IsFinite(v)) throw new InvalidDataException($"{Origin}: '{module}' dequantizes to a non-finite value at [{o}, {c}] (scale {s[(long)g * rows + o]})");
                w[(long)o * cols + c] = v;
            }
        return new PinnedMatrix(name, w, rows, cols, pinInPlace: true);
    }

    private TensorView Require(string name) => _packed.Contains(name) ? _packed.Get(name)
        : throw new InvalidDataException($"{Origin}: GPTQ tensor '{name}' is missing");

    private InvalidDataException Bad(TensorView t, string expected)
        => new($"{Origin}: GPTQ tensor '{t.Name}' is {t.DType} [{string.Join(", ", t.Shape)}], expected {expected}");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var m in _dequantized.Values) m.Dispose();
        _dequantized.Clear();
        _packed.Dispose();
    }
}
