// What every benchmark suite reads the same way: its "--name value" options and where ../shared lives.
namespace QuantSharp.Bench;

/// <summary>Option parsing and data location shared by the benchmark suites.</summary>
internal static class BenchCommandLine
{
    /// <summary>The value after <paramref name="name"/>, or null when the option is absent.</summary>
    public static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The ../shared folder beside the repository (found from the running assembly upwards).</summary>
    public static string SharedRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QuantSharp.slnx"))) dir = dir.Parent;
        return Path.GetFullPath(Path.Combine(dir?.FullName ?? ".", "..", "shared"));
    }

    /// <summary>Median of the measured values (mean of the middle two for an even count); sorts the list.</summary>
    public static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
