// Gathers a quantization run's per-tensor records for its report and logs each one as it arrives.
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.Reporting;

namespace QuantSharp;

/// <summary>
/// Receives every <see cref="TensorQuantizationRecord"/> of a run (from the layer-streaming runner and from the GGUF
/// encoders) and every 2-D weight stored as a float type; each record is logged at once through the request's
/// <see cref="QuantizeRequest.OnInfo"/>, with the same values the report stores.
/// </summary>
internal sealed class QuantizeReportCollector(Action<string>? log)
{
    private readonly Lock _lock = new();
    private readonly List<TensorQuantizationRecord> _tensors = [];
    private readonly List<(string Name, string Kind, int? Layer, string Type, long[] Shape)> _floats = [];

    /// <summary>Records one quantized tensor and logs it.</summary>
    public void Add(TensorQuantizationRecord record)
    {
        lock (_lock) _tensors.Add(record);
        log?.Invoke(record.LogLine());
    }

    /// <summary>Records a 2-D weight the file stores as a float type.</summary>
    public void AddFloat(string name, GgmlType type, long[] shape)
    {
        var (kind, layer) = TensorKinds.FromGgufName(name);
        lock (_lock) _floats.Add((name, kind, layer, type.ToString(), shape));
    }

    /// <summary>The quantized tensors in the order they were quantized.</summary>
    public IReadOnlyList<TensorQuantizationRecord> Tensors
    {
        get { lock (_lock) return [.. _tensors]; }
    }

    /// <summary>
    /// The float-typed weights that no record covers (a streaming run's layer linears are recorded by the runner under
    /// their source names, so a planned type of the same layer and role is not listed again).
    /// </summary>
    public IReadOnlyList<(string Name, string Kind, int? Layer, string Type, long[] Shape)> FloatTensors
    {
        get
        {
            lock (_lock)
            {
                var covered = _tensors.Select(t => (t.Kind, t.Layer)).ToHashSet();
                return [.. _floats.Where(f => !covered.Contains((f.Kind, f.Layer)))];
            }
        }
    }
}
