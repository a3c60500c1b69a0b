// Parameter and byte counts of a model's tensors, for `inspect` and reports.
using QuantSharp.Models.Llama;

namespace QuantSharp.Models;

/// <summary>One tensor as listed by <see cref="ModelSummary"/>.</summary>
public sealed record TensorSummary(string Name, string Type, long[] Shape, long Elements, long Bytes);

/// <summary>Counts over all tensors of a model's weight source.</summary>
public sealed record ModelSummary(IReadOnlyList<TensorSummary> Tensors, long Parameters, long Bytes, IReadOnlyDictionary<string, int> ByType)
{
    /// <summary>Summarises every tensor in the model's file(s).</summary>
    public static ModelSummary Of(LlamaModel model)
    {
        var list = new List<TensorSummary>();
        var byType = new SortedDictionary<string, int>(StringComparer.Ordinal);
        long p = 0, b = 0;
        foreach (var name in model.Source.TensorNames)
        {
            var t = model.Source.Get(name);
            list.Add(new TensorSummary(name, t.DType.ToString(), t.Shape, t.ElementCount, t.ByteLength));
            byType[t.DType.ToString()] = byType.GetValueOrDefault(t.DType.ToString()) + 1;
            p += t.ElementCount;
            b += t.ByteLength;
        }
        return new ModelSummary(list, p, b, byType);
    }
}
