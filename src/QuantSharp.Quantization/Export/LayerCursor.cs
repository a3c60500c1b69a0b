// Pulls quantized layers from a streaming run as a file writer asks for them, keeping only the current one.
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// Adapts the runner's layer sequence to writers that pull tensors in file order: asking for layer
/// i advances the run to it and drops the previous layer. Disposing ends the run (its temporary
/// activation storage is removed).
/// </summary>
internal sealed class LayerCursor(IEnumerable<QuantizedDecoderLayer> layers) : IDisposable
{
    private readonly IEnumerator<QuantizedDecoderLayer> _run = layers.GetEnumerator();
    private QuantizedDecoderLayer? _current;

    public QuantizedDecoderLayer Layer(int index)
    {
        while (_current == null || _current.Index < index)
        {
            _current = null; // let the previous layer go before computing the next
            if (!_run.MoveNext()) throw new InvalidOperationException($"the quantization run ended before layer {index}");
            _current = _run.Current;
        }
        if (_current.Index != index) throw new InvalidOperationException($"layer {index} was requested after layer {_current.Index} had been produced");
        return _current;
    }

    public void Dispose() => _run.Dispose();
}
