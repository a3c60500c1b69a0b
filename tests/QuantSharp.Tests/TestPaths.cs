// Where the shared real models and texts are: ../shared beside the repository root.
namespace QuantSharp.Tests;

internal static class TestPaths
{
    private static readonly Lazy<string> SharedRoot = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QuantSharp.slnx"))) dir = dir.Parent;
        if (dir == null) throw new DirectoryNotFoundException("cannot find the repository root (QuantSharp.slnx) above " + AppContext.BaseDirectory);
        var shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
        if (!Directory.Exists(shared)) throw new DirectoryNotFoundException($"{shared}: the shared models and data folder is missing");
        return shared;
    });

    public static string Models => Path.Combine(SharedRoot.Value, "models");
    public static string Data => Path.Combine(SharedRoot.Value, "data");
}
