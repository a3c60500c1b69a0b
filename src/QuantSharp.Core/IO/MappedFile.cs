// Read-only memory mapping of a whole file, with bounds-checked access.
using System.IO.MemoryMappedFiles;

namespace QuantSharp.Core.IO;

/// <summary>
/// A file mapped read-only into memory. Model weights are read through this so that nothing
/// forces a whole model into RAM; the OS pages in what is touched.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;

    /// <summary>Maps <paramref name="path"/> read-only.</summary>
    public MappedFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found", path);
        Length = info.Length;
        if (Length == 0) return; // an empty file cannot be mapped; Length==0 makes every access fail cleanly
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }
    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }
    /// <summary>Address of byte 0 (null for an empty file).</summary>
    public byte* Base => _base;

    /// <summary>Pointer to <paramref name="length"/> bytes at <paramref name="offset"/>, after checking they lie inside the file.</summary>
    public byte* At(long offset, long length, string what)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new InvalidDataException($"{Path}: {what} spans bytes [{offset}, {offset + length}) but the file has {Length} bytes");
        return _base + offset;
    }

    /// <summary>A span over a range of the file (must be below 2 GiB).</summary>
    public ReadOnlySpan<byte> Span(long offset, int length, string what) => new(At(offset, length, what), length);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_view != null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
