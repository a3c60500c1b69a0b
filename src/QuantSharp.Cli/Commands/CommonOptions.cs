// Options shared by several commands.
using System.CommandLine;

namespace QuantSharp.Cli.Commands;

/// <summary>Factories for options that several commands take.</summary>
internal static class CommonOptions
{
    public static Argument<string> Model() => new("model") { Description = "Model: a Hugging Face folder, a .gguf file or a llama2.c .bin checkpoint" };

    public static Option<int?> Threads() => new("--threads", "-t") { Description = "Worker threads (default: all cores)" };

    public static Option<string?> Tokenizer() => new("--tokenizer") { Description = "Tokenizer file when it is not beside the model (llama2.c tok*.bin, tokenizer.json)" };

    /// <summary>
    /// Every input file of a run, for the writers' protected paths: the model (a file, or each file of
    /// a model folder) and the other inputs given (tokenizer, calibration or evaluation text, imatrix).
    /// The writers compare them with the output after resolving symbolic links.
    /// </summary>
    public static List<string> Inputs(string model, params IEnumerable<string?> others)
    {
        var list = new List<string> { Path.GetFullPath(model) };
        if (Directory.Exists(model)) list.AddRange(Directory.GetFiles(model));
        foreach (var o in others)
            if (!string.IsNullOrEmpty(o)) list.Add(Path.GetFullPath(o));
        return list;
    }
}
