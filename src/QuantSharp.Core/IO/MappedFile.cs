// Read-only memory mapping of a whole file, with bounds-checked access.
using System.IO.MemoryMappedFiles;

namespace QuantSharp.Core.IO;

/// <summary>
/// A file mapped read-only into memory. Model weights are read through this so that nothing
/// forces a whole model into RAM; the OS pages in what is touched.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;

    /// <summary>Maps <paramref name="path"/> read-only.</summary>
    public MappedFile(string path)
    {
        Path = path;
        // The length comes from the opened file, not from the path: a symbolic link (the Hugging Face
        // cache keeps every file as a link to a blob) has a length of its own that is not the target's.
        try
        {
            _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        }
        catch (FileNotFoundException) { throw new FileNotFoundException($"{path}: file not found", path); }
        catch (DirectoryNotFoundException) { throw new FileNotFoundException($"{path}: file not found", path); }
        try
        {
            Length = _stream.Length;
            if (Length == 0) return; // an empty file cannot be mapped; Length==0 makes every access fail cleanly
            _map = MemoryMappedFile.CreateFromFile(_stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
        }
        catch
        {
            Dispose();
            throw;
        }
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

    /// <summary>
    /// Throws <see cref="IOException"/> naming the file when it no longer has the length it had when
    /// mapped. Touching a mapped page beyond the new end of a truncated file kills the process with
    /// SIGBUS, which .NET cannot catch; callers check here before phases that read much of the
    /// mapping (loading, each layer of a long run) so the usual cause — another program rewriting the
    /// model — is reported by name instead. Costs one fstat.
    /// </summary>
    public void ThrowIfChanged()
    {
        if (_base == null && Length != 0) throw new ObjectDisposedException(Path);
        long now;
        try { now = RandomAccess.GetLength(_stream.SafeFileHandle); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { throw new IOException($"{Path}: the mapped file can no longer be examined: {e.Message}", e); }
        if (now != Length)
            throw new IOException($"{Path}: the file changed while in use: it had {Length} bytes when opened and has {now} now (another program truncated or rewrote it)");
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
        _stream?.Dispose();
    }
}
