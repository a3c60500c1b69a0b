// Output files written safely: never over an input, through a temporary file renamed into place, stale temporaries of dead processes swept.
using System.Globalization;

namespace QuantSharp.Core.IO;

/// <summary>
/// Writes an output file so that a crash, a kill or an error never leaves a half-written file under
/// the final name and never overwrites one of the run's inputs. Temporary files are named
/// <c>&lt;name&gt;.tmp-&lt;pid&gt;-&lt;guid&gt;</c> beside the target, so a later run can recognise and delete
/// those left by a process that no longer exists (kill -9 gives no chance to clean up).
/// </summary>
public static class AtomicFile
{
    /// <summary>Infix between the target's file name and the owner's process id in temporary names.</summary>
    public const string TempInfix = ".tmp-";

    /// <summary>
    /// The full path of <paramref name="path"/> with every symbolic link resolved (directories and the
    /// file itself), so that two spellings of the same file compare equal. Parts that do not exist are
    /// kept as written.
    /// </summary>
    public static string CanonicalPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Canonical(Path.GetFullPath(path), 0);
    }

    private static string Canonical(string full, int depth)
    {
        // A loop of links is an error for the OS too; 40 is Linux's own limit (MAXSYMLINKS).
        if (depth > 40) return full;
        string? dir = Path.GetDirectoryName(full);
        if (dir is null) return full; // the root
        string name = Path.GetFileName(full);
        string resolved = Path.Combine(Canonical(dir, depth + 1), name);
        try
        {
            var info = new FileInfo(resolved);
            if (info.LinkTarget is { } link)
            {
                // Relative link targets are relative to the folder holding the link.
                string target = Path.GetFullPath(link, Path.GetDirectoryName(resolved)!);
                return Canonical(target, depth + 1);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return resolved;
    }

    /// <summary>
    /// Throws <see cref="IOException"/> when <paramref name="outputPath"/> is one of
    /// <paramref name="protectedPaths"/> after resolving symbolic links.
    /// </summary>
    public static void ThrowIfProtected(string outputPath, IEnumerable<string?>? protectedPaths)
    {
        string target = CanonicalPath(outputPath);
        foreach (var p in protectedPaths ?? [])
        {
            if (string.IsNullOrEmpty(p)) continue;
            if (string.Equals(CanonicalPath(p), target, StringComparison.Ordinal))
                throw new IOException($"refusing to write {outputPath}: it is one of the input files ({p})");
        }
    }

    /// <summary>A fresh temporary name beside <paramref name="target"/> that records this process's id.</summary>
    public static string TempPathFor(string target)
    {
        string full = Path.GetFullPath(target);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".",
            $"{Path.GetFileName(full)}{TempInfix}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}");
    }

    /// <summary>
    /// Deletes temporaries of <paramref name="target"/> (<c>&lt;name&gt;.tmp-&lt;pid&gt;-*</c>, files or
    /// folders) whose process no longer runs. Temporaries of live processes, of this process and names
    /// without a pid are left alone. Best effort: failures to delete are ignored.
    /// </summary>
    public static int SweepStale(string target)
    {
        string full = Path.GetFullPath(target);
        string? dir = Path.GetDirectoryName(full);
        if (dir is null || !Directory.Exists(dir)) return 0;
        return SweepStaleIn(dir, Path.GetFileName(full) + TempInfix);
    }

    /// <summary>
    /// Deletes entries of <paramref name="folder"/> named <c>&lt;prefix&gt;&lt;pid&gt;-…</c> whose process no
    /// longer runs (e.g. prefix "quantsharp-activations-" in the temp folder). Returns how many went.
    /// </summary>
    public static int SweepStaleIn(string folder, string prefix)
    {
        int removed = 0;
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(folder, prefix + "*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
        foreach (var entry in entries)
        {
            string rest = Path.GetFileName(entry)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (pid == Environment.ProcessId || IsAlive(pid)) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>
    /// Whether process <paramref name="pid"/> exists. On Linux /proc/&lt;pid&gt; answers without
    /// permissions; elsewhere (no /proc) every process is assumed alive, so nothing is deleted wrongly.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        if (!Directory.Exists("/proc/self")) return true;
        return Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// Writes <paramref name="outputPath"/> through a temporary file beside it: refuses protected paths,
    /// sweeps stale temporaries of dead processes, calls <paramref name="write"/>, flushes to disk and
    /// renames into place; on any error (or cancellation) the temporary file is deleted and the target
    /// is left as it was.
    /// </summary>
    /// <param name="outputPath">Destination; an existing file there is replaced.</param>
    /// <param name="protectedPaths">Inputs that must never be overwritten (compared after resolving links).</param>
    /// <param name="write">Writes the content.</param>
    /// <param name="bufferSize">FileStream buffer size.</param>
    /// <param name="cancellationToken">Checked once more before the rename.</param>
    public static void Write(string outputPath, IEnumerable<string?>? protectedPaths, Action<FileStream> write,
        int bufferSize = 1 << 20, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        ArgumentNullException.ThrowIfNull(write);
        ThrowIfProtected(outputPath, protectedPaths);
        // Rename the real file when the output is a link to it elsewhere, not the link itself.
        string target = CanonicalPath(outputPath);
        SweepStale(target);
        string tmp = TempPathFor(target);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            cancellationToken.ThrowIfCancellationRequested();
            File.Move(tmp, target, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
