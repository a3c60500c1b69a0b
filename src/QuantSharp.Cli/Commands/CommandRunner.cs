// Turns any failure of a command into one clear line on stderr and a non-zero exit code.
using QuantSharp.Core.Kernels;
using Spectre.Console;

namespace QuantSharp.Cli.Commands;

/// <summary>Runs a command body with uniform error reporting.</summary>
internal static class CommandRunner
{
    /// <summary>Exit code for bad input (files, arguments).</summary>
    public const int BadInput = 2;

    private static readonly Lazy<CancellationTokenSource> Interrupt = new(() =>
    {
        var cts = new CancellationTokenSource();
        // First Ctrl-C asks the running step to stop and clean up its temporary output; a second one kills.
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            cts.Cancel();
        };
        // SIGTERM (kill, timeout, a service manager) too: a process started in the background of a script inherits
        // SIGINT as ignored, and then SIGTERM is the only way to stop it cleanly.
        s_terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            if (cts.IsCancellationRequested) return;
            c.Cancel = true;
            cts.Cancel();
        });
        return cts;
    });

    // Kept alive for the process's lifetime (disposing it would restore the default SIGTERM behaviour).
    private static System.Runtime.InteropServices.PosixSignalRegistration? s_terminate;

    /// <summary>Cancelled by Ctrl-C; long steps that write files watch it and remove their temporary output.</summary>
    public static CancellationToken Cancellation => Interrupt.Value.Token;

    /// <summary>Runs <paramref name="body"/>; expected failures print "error: …" and return <see cref="BadInput"/>.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException
                                       or NotSupportedException or ArgumentException or KeyNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {ex.Message.ReplaceLineEndings(" ")}");
            return BadInput;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }

    /// <summary>Applies --threads.</summary>
    public static void SetThreads(int? threads)
    {
        if (threads is null) return;
        if (threads < 1) throw new ArgumentException($"--threads must be ≥ 1, got {threads}");
        KernelOptions.Threads = threads.Value;
    }

    /// <summary>--threads as execution options for one run (null: the process defaults); the same check as SetThreads.</summary>
    public static ExecutionOptions? Execution(int? threads)
    {
        if (threads is null) return null;
        if (threads < 1) throw new ArgumentException($"--threads must be ≥ 1, got {threads}");
        return new ExecutionOptions { Threads = threads.Value };
    }

    /// <summary>Runs <paramref name="work"/> under a progress bar (plain lines when output is redirected).</summary>
    public static T WithProgress<T>(string title, Func<IProgress<(int Done, int Total)>, T> work)
    {
        if (Console.IsErrorRedirected || Console.IsOutputRedirected)
        {
            int lastDecile = -1;
            return work(new SynchronousProgress(p =>
            {
                int decile = p.Total == 0 ? 10 : p.Done * 10 / p.Total;
                if (decile != lastDecile) { Console.Error.WriteLine($"{title}: {p.Done}/{p.Total}"); lastDecile = decile; }
            }));
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title, autoStart: true, maxValue: 1);
                result = work(new SynchronousProgress(p => { task.MaxValue = Math.Max(1, p.Total); task.Value = p.Done; }));
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
