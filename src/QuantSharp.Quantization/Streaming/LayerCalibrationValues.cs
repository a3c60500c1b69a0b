// Per-token values of one decoder layer (a transform's reference outputs, a linear group's inputs) kept out of the heap.
namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// <see cref="Width"/> floats for every calibration token, written and read chunk by chunk
/// (<see cref="CalibrationChunk"/>) through an <see cref="ActivationStore"/>: with the run's default
/// <see cref="ActivationStorage.Disk"/> a temporary file, so a transform that needs a value of every token several
/// times (AWQ's reference outputs, once per candidate scale) holds one chunk of it in memory, not all tokens; with
/// <see cref="ActivationStorage.Memory"/> an array, as the run keeps its hidden states.
/// </summary>
internal sealed class LayerCalibrationValues : IDisposable
{
    private readonly ActivationStore _store;
    private readonly IReadOnlyList<int[]> _sequences;
    private readonly bool _owned;

    /// <summary>Wraps <paramref name="store"/> (of <paramref name="sequences"/>); disposes it with this when <paramref name="owned"/>.</summary>
    public LayerCalibrationValues(ActivationStore store, IReadOnlyList<int[]> sequences, bool owned)
    {
        _store = store;
        _sequences = sequences;
        _owned = owned;
    }

    /// <summary>Floats per token.</summary>
    public int Width => _store.Width;

    /// <summary>Copies the values of <paramref name="chunk"/>'s tokens into <paramref name="destination"/> [chunk tokens, width].</summary>
    public void Read(CalibrationChunk chunk, Span<float> destination)
    {
        for (int s = 0, off = 0; s < chunk.Sequences; s++)
        {
            int n = _sequences[chunk.FirstSequence + s].Length * Width;
            _store.Read(chunk.FirstSequence + s, destination.Slice(off, n));
            off += n;
        }
    }

    /// <summary>Stores the values of <paramref name="chunk"/>'s tokens from <paramref name="source"/> [chunk tokens, width].</summary>
    public void Write(CalibrationChunk chunk, ReadOnlySpan<float> source)
    {
        for (int s = 0, off = 0; s < chunk.Sequences; s++)
        {
            int n = _sequences[chunk.FirstSequence + s].Length * Width;
            _store.Write(chunk.FirstSequence + s, source.Slice(off, n));
            off += n;
        }
    }

    /// <summary>Releases the store when this owns it (a temporary file is deleted).</summary>
    public void Dispose()
    {
        if (_owned) _store.Dispose();
    }
}
