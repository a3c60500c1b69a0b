// Locates the read-only shared models and data (../shared beside the repository root) for RealModel tests.
namespace QuantSharp.Tests;

/// <summary>
/// Paths into the shared folder: the repository root is the first ancestor of the test binaries that
/// holds QuantSharp.slnx, and the shared folder is its sibling "../shared".
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    /// <summary>The repository root (the folder with QuantSharp.slnx).</summary>
    public static string RepoRoot => RootLazy.Value;

    /// <summary>The shared folder.</summary>
    public static string Root => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>shared/models.</summary>
    public static string Models => Path.Combine(Root, "models");

    /// <summary>shared/data.</summary>
    public static string Data => Path.Combine(Root, "data");

    /// <summary>A path under shared/models.</summary>
    public static string Model(params string[] parts) => Path.Combine([Models, .. parts]);

    /// <summary>A path under shared/data.</summary>
    public static string DataFile(params string[] parts) => Path.Combine([Data, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QuantSharp.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"No folder containing QuantSharp.slnx above {AppContext.BaseDirectory}.");
    }
}
