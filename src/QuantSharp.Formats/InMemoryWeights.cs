// A weight source over arrays in memory: converted or synthetic tensors.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats;

/// <summary>
/// Named tensors held in pinned managed arrays (pinned so that <see cref="TensorView"/> pointers stay
/// valid). Used for tensors produced in memory, e.g. by a conversion, and for synthetic test models.
/// </summary>
public sealed unsafe class InMemoryWeights(string origin) : IWeightSource
{
    private readonly Dictionary<string, (byte[] Data, DType DType, long[] Shape)> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();

    /// <inheritdoc/>
    public string Origin { get; } = origin;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Adds an fp32 tensor (copied).</summary>
    public void Add(string name, ReadOnlySpan<float> values, params long[] shape)
        => Add(name, DType.F32, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Adds a tensor of any dtype from its raw bytes (copied).</summary>
    public void Add(string name, DType dtype, ReadOnlySpan<byte> bytes, params long[] shape)
    {
        if (_tensors.ContainsKey(name)) throw new ArgumentException($"{Origin}: tensor '{name}' added twice");
        var data = GC.AllocateUninitializedArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(data);
        _ = new TensorView(name, dtype, shape, null, bytes.Length); // validates shape against size
        _tensors[name] = (data, dtype, shape);
        _names.Add(name);
    }

    /// <inheritdoc/>
    public TensorView Get(string name)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Origin}: no tensor named '{name}'");
        return new TensorView(name, t.DType, t.Shape, (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(t.Data)), t.Data.Length);
    }

    /// <inheritdoc/>
    public void Dispose() { }
}
