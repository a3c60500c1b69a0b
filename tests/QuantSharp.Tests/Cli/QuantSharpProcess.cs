// Runs the built quantsharp CLI in a process of its own (exit code, stdout, stderr), as a user would.
using System.Diagnostics;

namespace QuantSharp.Tests.Cli;

/// <summary>The quantsharp.dll of this build configuration, run with <c>dotnet</c> from the repository root.</summary>
internal static class QuantSharpProcess
{
#if DEBUG
    private const string BuildConfiguration = "Debug";
#else
    private const string BuildConfiguration = "Release";
#endif

    /// <summary>The CLI assembly of this build.</summary>
    public static string DllPath => Path.Combine(SharedData.RepoRoot, "src", "QuantSharp.Cli", "bin", BuildConfiguration, "net10.0", "quantsharp.dll");

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = SharedData.RepoRoot };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
