// Weight-sized scratch arrays that AWQ's searches of one layer share instead of allocating per group and per linear.
namespace QuantSharp.Quantization.Awq;

/// <summary>
/// Pinned float arrays by exact length, rented and returned within one layer's AWQ: the scale search needs a scaled copy
/// and a rounded candidate per linear of a group, the clipping search a clamped copy and a rounded candidate per linear,
/// and the layer's linears come in a few shapes. Allocated per group and linear they were ≈ 40 MB of large-object-heap
/// garbage per layer of sotu-llama-30m, which the collector returns late; shared they are ≈ 17 MB, allocated once.
/// Arrays are pinned (pinned object heap) so candidate views over them need no copy. Not thread-safe (one layer's
/// transform runs on one thread).
/// </summary>
internal sealed class AwqScratch
{
    private readonly Dictionary<int, Stack<float[]>> _free = [];

    /// <summary>An array of exactly <paramref name="length"/> floats (contents undefined) until <see cref="Return"/>.</summary>
    public float[] Rent(int length)
        => _free.TryGetValue(length, out var s) && s.Count > 0 ? s.Pop() : GC.AllocateUninitializedArray<float>(length, pinned: true);

    /// <summary>Gives <paramref name="array"/> back for the next <see cref="Rent"/> of its length.</summary>
    public void Return(float[] array)
    {
        if (!_free.TryGetValue(array.Length, out var s)) _free[array.Length] = s = new Stack<float[]>();
        s.Push(array);
    }
}
