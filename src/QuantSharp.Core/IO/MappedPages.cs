// Hands a read-only file mapping's pages back to the kernel once nothing reads them (the weights' repacked copy replaced them).
using System.Runtime.InteropServices;

namespace QuantSharp.Core.IO;

/// <summary>
/// madvise(MADV_DONTNEED) over the whole pages inside a range of a read-only file mapping: the pages leave the
/// process's resident set (the file's data stays in the page cache, reclaimable), and a later read faults the same
/// bytes back in from the file, so no data can be lost. Only for read-only mappings of files
/// (<see cref="MappedFile"/>): on anonymous or writable memory MADV_DONTNEED would discard the contents. Linux
/// only; elsewhere, and if the call fails, nothing happens (the pages simply stay resident).
/// </summary>
public static unsafe partial class MappedPages
{
    private const int MadvDontNeed = 4;

    /// <summary>Releases the whole pages of [<paramref name="start"/>, +<paramref name="length"/>); returns the bytes released.</summary>
    public static long Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || start == null || length <= 0) return 0;
        long page = Environment.SystemPageSize;
        // Inward to whole pages: a page shared with a neighbouring tensor still in use stays.
        long first = ((long)start + page - 1) & ~(page - 1);
        long end = ((long)start + length) & ~(page - 1);
        if (end <= first) return 0;
        return Madvise((nint)first, (nuint)(end - first), MadvDontNeed) == 0 ? end - first : 0;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
