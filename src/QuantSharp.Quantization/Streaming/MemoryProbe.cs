// Samples the process's memory during a run: managed heap, anonymous resident memory, peak resident memory.
namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// Peak memory seen at the sample points of a run. <see cref="PeakAnonymousBytes"/> is Linux's
/// RssAnon (private memory: managed heap, runtime, native buffers; not the memory-mapped model file,
/// whose pages are page cache the kernel can drop); <see cref="PeakResidentBytes"/> is VmHWM (all
/// resident pages, mapped model included, highest since process start or since <see cref="ResetKernelPeak"/>).
/// Off Linux only the managed figure is available.
/// </summary>
public sealed class MemoryProbe
{
    /// <summary>Highest GC heap size seen (bytes).</summary>
    public long PeakManagedBytes { get; private set; }

    /// <summary>Highest RssAnon seen (bytes), or 0 where unavailable.</summary>
    public long PeakAnonymousBytes { get; private set; }

    /// <summary>The kernel's VmHWM at the last sample (bytes), or 0 where unavailable.</summary>
    public long PeakResidentBytes { get; private set; }

    /// <summary>Asks Linux to restart VmHWM from the current RSS (writes 5 to /proc/self/clear_refs); false when not possible.</summary>
    public static bool ResetKernelPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { return false; }
    }

    /// <summary>Records the current figures.</summary>
    public void Sample()
    {
        PeakManagedBytes = Math.Max(PeakManagedBytes, GC.GetTotalMemory(false));
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) PeakAnonymousBytes = Math.Max(PeakAnonymousBytes, Kilobytes(line) * 1024);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) PeakResidentBytes = Kilobytes(line) * 1024;
            }
        }
        catch (IOException) { }
    }

    private static long Kilobytes(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], out long kb) ? kb : 0;
    }
}
