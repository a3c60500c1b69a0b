// Adapts a GGUF block format to GPTQ's sweep: block scales chosen at each block's first column, values rounded one by one.
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// A GPTQ grid backed by ggml blocks: when the sweep reaches a block's first column the format's
/// own scale search runs on the row's current (error-updated) values of that block; each value is
/// then rounded onto that block's stored grid and its level written into the bytes.
/// </summary>
internal sealed class BlockFormatColumnGrid : IColumnGrid
{
    private readonly IBlockGrid _format;
    private readonly byte[] _data;
    private readonly int _rowBytes, _blockSize, _blockBytes;
    private readonly float[]? _importance;

    public BlockFormatColumnGrid(IBlockGrid format, byte[] data, int cols, float[]? importance)
    {
        _format = format;
        _data = data;
        _blockSize = format.BlockSize;
        _blockBytes = format.BlockBytes;
        _rowBytes = cols / _blockSize * _blockBytes;
        _importance = importance;
    }

    /// <inheritdoc/>
    public int GroupSize => _blockSize;

    /// <inheritdoc/>
    public void BeginGroup(int row, int position, ReadOnlySpan<double> values)
    {
        Span<float> x = stackalloc float[_blockSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)values[i];
        var importance = _importance is null ? default : new ReadOnlySpan<float>(_importance, position, _blockSize);
        _format.QuantizeBlock(x, Block(row, position), importance);
    }

    /// <inheritdoc/>
    public double Round(int row, int position, double value) =>
        _format.RoundElement(Block(row, position), position % _blockSize, (float)value);

    private Span<byte> Block(int row, int position) =>
        _data.AsSpan((int)((long)row * _rowBytes + position / _blockSize * _blockBytes), _blockBytes);
}
