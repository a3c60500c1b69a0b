// What a model file offers to the model code: named dense tensors, memory-mapped.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats;

/// <summary>
/// A set of named tensors backed by one or more open files (safetensors shards, a GGUF, a llama2.c
/// checkpoint). Views stay valid until the source is disposed.
/// </summary>
public interface IWeightSource : IDisposable
{
    /// <summary>Where the weights come from (a file or folder path), for error messages.</summary>
    string Origin { get; }

    /// <summary>All tensor names, in file order.</summary>
    IReadOnlyList<string> TensorNames { get; }

    /// <summary>Whether a tensor exists.</summary>
    bool Contains(string name);

    /// <summary>The tensor named <paramref name="name"/>; throws a clear error naming the origin when absent.</summary>
    TensorView Get(string name);
}
