// Finds and loads the llama.cpp b8390 shared libraries (from the npm package @node-llama-cpp/linux-x64).
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace QuantSharp.LlamaCpp;

/// <summary>
/// Locates libllama.b8390.so and friends, wires them to <see cref="LlamaNative"/>'s logical
/// library names, loads the CPU backend (a separate libggml-cpu-&lt;arch&gt;.so chosen at run
/// time) and silences llama.cpp's logging. Call <see cref="EnsureLoaded"/> before anything else.
/// </summary>
public static unsafe class LlamaCppLibrary
{
    /// <summary>The llama.cpp build the bindings were written against.</summary>
    public const string Build = "b8390";
    /// <summary>Environment variable that overrides the library folder.</summary>
    public const string DirectoryVariable = "QUANTSHARP_LLAMACPP_DIR";
    /// <summary>Folder under the repository root where .ci/install-llama-cpp.sh puts the libraries.</summary>
    public const string RepoRelativeDirectory = ".oracle/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";

    private const string LlamaFile = "libllama." + Build + ".so";
    private const string GgmlFile = "libggml." + Build + ".so";
    private const string GgmlBaseFile = "libggml-base.so";

    private static readonly Lock Gate = new();
    private static IntPtr _llama, _ggml, _ggmlBase;
    private static string? _loadedFrom;

    /// <summary>The folder the libraries were loaded from, once loaded.</summary>
    public static string? LoadedFrom => _loadedFrom;

    /// <summary>
    /// The folder that should hold the libraries: $QUANTSHARP_LLAMACPP_DIR when set, else
    /// &lt;repo&gt;/.oracle/… found by walking up from the test binaries to QuantSharp.slnx.
    /// Null when neither can be determined.
    /// </summary>
    public static string? ExpectedDirectory()
    {
        var env = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantSharp.slnx")))
                return Path.Combine(dir.FullName, RepoRelativeDirectory);
        return null;
    }

    /// <summary>The library folder if it exists and holds libllama.b8390.so, else null.</summary>
    public static string? FindDirectory()
    {
        var dir = ExpectedDirectory();
        return dir != null && File.Exists(Path.Combine(dir, LlamaFile)) ? dir : null;
    }

    /// <summary>Whether the libraries can be found (without loading them).</summary>
    public static bool IsAvailable => FindDirectory() != null;

    /// <summary>
    /// Loads the libraries once per process, registers backends from their folder and installs a
    /// no-op logger. Throws <see cref="DllNotFoundException"/> saying where it looked and how to install.
    /// </summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loadedFrom != null) return;
            var dir = FindDirectory() ?? throw new DllNotFoundException(
                $"llama.cpp {Build} not found in '{ExpectedDirectory() ?? "(no repository root found)"}'. " +
                $"Run .ci/install-llama-cpp.sh or set {DirectoryVariable} to a folder containing {LlamaFile}.");

            // Dependencies first and by full path, so nothing is picked up from the system search path.
            _ggmlBase = NativeLibrary.Load(Path.Combine(dir, GgmlBaseFile));
            _ggml = NativeLibrary.Load(Path.Combine(dir, GgmlFile));
            _llama = NativeLibrary.Load(Path.Combine(dir, LlamaFile));
            NativeLibrary.SetDllImportResolver(typeof(LlamaNative).Assembly, Resolve);

            // Silence before anything logs; the callback is a static function, so nothing can be collected.
            LlamaNative.llama_log_set(&Discard, null);
            LlamaNative.llama_backend_init();
            var path = Encoding.UTF8.GetBytes(dir + "\0");
            fixed (byte* p = path) LlamaNative.ggml_backend_load_all_from_path(p);
            if (LlamaNative.ggml_backend_dev_count() == 0)
                throw new DllNotFoundException($"llama.cpp loaded from '{dir}' but no backend could be loaded (no usable libggml-cpu-*.so for this CPU?)");
            _loadedFrom = dir;
        }
    }

    /// <summary>Address of an exported function of libggml-base (quantize/dequantize row functions).</summary>
    public static IntPtr GgmlBaseExport(string name)
    {
        EnsureLoaded();
        return NativeLibrary.TryGetExport(_ggmlBase, name, out var f) ? f : throw new EntryPointNotFoundException($"libggml-base has no export '{name}'");
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        LlamaNative.Llama => _llama,
        LlamaNative.Ggml => _ggml,
        _ => IntPtr.Zero,
    };

    private static readonly object LogLock = new();
    private static readonly Queue<string> LogTail = new();

    /// <summary>The last lines llama.cpp logged (kept instead of printed, for error messages).</summary>
    public static string RecentLog
    {
        get { lock (LogLock) return string.Concat(LogTail); }
    }

    /// <summary>Keeps the last 40 log lines rather than printing them.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void Discard(int level, byte* text, void* userData)
    {
        if (text == null) return;
        string line = Marshal.PtrToStringUTF8((IntPtr)text) ?? "";
        lock (LogLock)
        {
            LogTail.Enqueue(line);
            while (LogTail.Count > 40) LogTail.Dequeue();
        }
    }
}
