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

    /// <summary>
    /// Throws <see cref="IOException"/> naming the file when a file behind the views changed size
    /// since it was opened (truncated or rewritten by another program). Reading a mapped page past a
    /// truncated end is SIGBUS, which kills the process without a message; call this before a phase
    /// that reads much of the weights. Sources that hold no files do nothing.
    /// </summary>
    void ThrowIfChanged() { }
}
