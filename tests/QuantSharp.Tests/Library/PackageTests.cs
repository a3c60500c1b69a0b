// The packages as a user meets them: QuantSharp from a local folder in a fresh console project, and the dotnet tool.
using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using QuantSharp.Tests.Cli;

namespace QuantSharp.Tests.Library;

/// <summary>
/// Packs the library and the tool of this build into a temporary folder outside the repository, compiles and runs the
/// program of docs/library.md in a fresh console project that takes <c>QuantSharp</c> from that folder (its dependencies
/// from the package cache), and installs the tool into a fresh tool path.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class PackageTests : IDisposable
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"quantsharp-package-test-{Guid.NewGuid():N}");

    public PackageTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void PackedLibraryRunsTheReadmeProgramAndTheToolInstallsAndRuns()
    {
        string feed = Path.Combine(_root, "feed");
        // --no-build: package exactly the assemblies this test run was built from.
        Dotnet(SharedData.RepoRoot, "pack", "src/QuantSharp", "-c", Configuration, "--no-build", "-o", feed);
        Dotnet(SharedData.RepoRoot, "pack", "src/QuantSharp.Cli", "-c", Configuration, "--no-build", "-o", feed);
        Dotnet(SharedData.RepoRoot, "pack", "src/QuantSharp.Reporting.Charts", "-c", Configuration, "--no-build", "-o", feed);
        AssertDocumentationBesideEachAssembly(Path.Combine(feed, "QuantSharp.0.1.0.nupkg"));
        // ScottPlot (and SkiaSharp's natives) come only with the charts package, which depends on QuantSharp.
        var libraryDependencies = Dependencies(Path.Combine(feed, "QuantSharp.0.1.0.nupkg"));
        Assert.DoesNotContain(libraryDependencies, d => d.StartsWith("ScottPlot", StringComparison.OrdinalIgnoreCase) || d.StartsWith("SkiaSharp", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("Microsoft.ML.Tokenizers", libraryDependencies);
        var chartDependencies = Dependencies(Path.Combine(feed, "QuantSharp.Reporting.Charts.0.1.0.nupkg"));
        Assert.Contains("ScottPlot", chartDependencies);
        Assert.Contains("QuantSharp", chartDependencies);

        // A package folder of its own (so a stale QuantSharp 0.1.0 from an earlier run is never reused), the user's
        // package cache as a fallback folder for the dependencies, and the feed beside the configured sources.
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(_root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(_root, "packages")}" /></config>
              <fallbackPackageFolders><add key="cache" value="{cache}" /></fallbackPackageFolders>
              <packageSources><add key="local" value="{feed}" /></packageSources>
            </configuration>
            """);

        string app = Path.Combine(_root, "app");
        Dotnet(_root, "new", "console", "-o", app, "--no-restore");
        var add = Dotnet(_root, ["add", app, "package", "QuantSharp", "--version", "0.1.0"], check: false);
        Assert.True(add.Code == 0,
            $"adding QuantSharp from {feed} failed; its dependencies must be in the package cache {cache} (restore the repository first) " +
            $"or reachable through the configured sources:\n{add.Output}");

        string program = ReadmeProgram();
        Assert.True(program.Split('\n').Count(l => l.Trim().Length > 0) <= 10, $"the library example has more than 10 lines:\n{program}");
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);
        Dotnet(_root, "build", app, "-c", "Release", "--no-restore", "-o", Path.Combine(app, "out"));
        string stories = SharedData.Model("stories260K", "stories260K.bin");
        var run = Dotnet(app, Path.Combine(app, "out", "app.dll"), stories);

        // The same calls in this process give the same text.
        string reference = Path.Combine(_root, "reference-q4km.gguf");
        QuantSharpModel.Quantize(new QuantizeRequest { Model = stories, Output = reference, Type = "Q4_K_M" });
        using (var model = QuantSharpModel.Load(reference))
        {
            var expected = model.Generate("Once upon a time", new GenerationOptions { MaxTokens = 16 });
            Assert.Equal(16, expected.Tokens.Count);
            Assert.Equal($"{expected.Text} (16 tokens)", run.Output.TrimEnd('\n'));
        }
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(Path.Combine(app, "stories-q4km.gguf")));

        // The tool, from the same folder into a fresh tool path.
        string tools = Path.Combine(_root, "tools");
        Dotnet(_root, "tool", "install", "QuantSharp.Tool", "--version", "0.1.0", "--tool-path", tools, "--add-source", feed);
        var inspect = Run(Path.Combine(tools, "quantsharp"), _root, "inspect", SharedData.Model("sotu-llama-30m"));
        Assert.True(inspect.Code == 0, inspect.Output);
        Assert.Contains("llama", inspect.Output);
    }

    /// <summary>
    /// The package holds, beside every assembly in lib/net10.0 (the facade and the engine assemblies it carries), that
    /// assembly's XML docs, so IntelliSense documents engine types too.
    /// </summary>
    private static void AssertDocumentationBesideEachAssembly(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        const string lib = "lib/net10.0/";
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
        var assemblies = entries.Where(e => e.StartsWith(lib, StringComparison.Ordinal) && e.EndsWith(".dll", StringComparison.Ordinal))
            .Select(e => Path.GetFileNameWithoutExtension(e)).Order().ToList();
        Assert.Equal(["QuantSharp.Core", "QuantSharp.Evaluation", "QuantSharp.Formats", "QuantSharp.Library", "QuantSharp.Models", "QuantSharp.Quantization"], assemblies);
        foreach (string name in assemblies)
        {
            var doc = zip.GetEntry($"{lib}{name}.xml");
            Assert.True(doc is not null, $"{package}: {lib}{name}.dll has no {name}.xml beside it; entries: {string.Join(", ", entries.Order())}");
            using var stream = doc.Open();
            var xml = XDocument.Load(stream);
            Assert.Equal(name, xml.Root?.Element("assembly")?.Element("name")?.Value);
            Assert.NotEmpty(xml.Root!.Element("members")!.Elements("member"));
        }
    }

    /// <summary>The package ids a nupkg's nuspec lists as dependencies.</summary>
    private static List<string> Dependencies(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspec.Open();
        var xml = XDocument.Load(stream);
        return [.. xml.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string)e.Attribute("id")!)];
    }

    /// <summary>The first csharp block of docs/library.md (the README's library example).</summary>
    private static string ReadmeProgram()
    {
        string doc = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "docs", "library.md"));
        int start = doc.IndexOf("```csharp\n", StringComparison.Ordinal) + "```csharp\n".Length;
        return doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];
    }

    private static (int Code, string Output) Dotnet(string workingDirectory, params string[] args) => Dotnet(workingDirectory, args, check: true);

    private static (int Code, string Output) Dotnet(string workingDirectory, string[] args, bool check)
    {
        var r = Run("dotnet", workingDirectory, args);
        if (check) Assert.True(r.Code == 0, $"dotnet {string.Join(' ', args)} exited {r.Code}:\n{r.Output}");
        return r;
    }

    private static (int Code, string Output) Run(string file, string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish in 180 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
