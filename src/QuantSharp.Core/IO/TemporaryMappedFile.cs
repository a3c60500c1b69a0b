// Scratch space in a temporary file mapped read-write: memory the OS can write back and drop, gone when closed.
using System.Globalization;
using System.IO.MemoryMappedFiles;

namespace QuantSharp.Core.IO;

/// <summary>
/// A temporary file of a fixed length mapped read-write into memory, for large intermediate data (a rotated embedding)
/// that must stay addressable for a whole run without being held in anonymous memory: its pages are page cache, which
/// the OS writes to the file and drops under memory pressure, as it drops the pages of a memory-mapped model. On Unix
/// the file is unlinked as soon as it is mapped (nothing is left even after kill -9); on Windows it is deleted on close.
/// Its name records the process id, so <see cref="AtomicFile.SweepStaleIn"/> removes what a killed run left where
/// unlinking early is impossible.
/// </summary>
public sealed unsafe class TemporaryMappedFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;

    /// <summary>Creates and maps a zero-filled file of <paramref name="length"/> bytes in <paramref name="directory"/> (null: the system temp folder).</summary>
    /// <param name="directory">Where the file goes.</param>
    /// <param name="prefix">The file name's start ("quantsharp-rotated-"); the process id, a GUID and ".tmp" follow.</param>
    /// <param name="length">Bytes, at least 1.</param>
    public TemporaryMappedFile(string? directory, string prefix, long length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        string dir = directory ?? Path.GetTempPath();
        AtomicFile.SweepStaleIn(dir, prefix);
        string path = Path.Combine(dir, $"{prefix}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.tmp");
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1,
            OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None);
        try
        {
            _stream.SetLength(length);
            _map = MemoryMappedFile.CreateFromFile(_stream, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
            Length = length;
            // The mapping keeps the data; the name is no longer needed.
            if (!OperatingSystem.IsWindows()) File.Delete(path);
        }
        catch
        {
            Dispose();
            if (!OperatingSystem.IsWindows()) File.Delete(path);
            throw;
        }
    }

    /// <summary>The mapping's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Address of byte 0; valid until <see cref="Dispose"/>.</summary>
    public byte* Base => _base != null ? _base : throw new ObjectDisposedException(nameof(TemporaryMappedFile));

    /// <summary>Unmaps and closes the file (which removes it).</summary>
    public void Dispose()
    {
        if (_view != null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
        _stream.Dispose();
    }
}
