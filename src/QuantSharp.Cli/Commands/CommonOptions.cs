// Options shared by several commands.
using System.CommandLine;

namespace QuantSharp.Cli.Commands;

/// <summary>Factories for options that several commands take.</summary>
internal static class CommonOptions
{
    public static Argument<string> Model() => new("model") { Description = "Model: a Hugging Face folder, a .gguf file or a llama2.c .bin checkpoint" };

    public static Option<int?> Threads() => new("--threads", "-t") { Description = "Worker threads (default: all cores)" };

    public static Option<string?> Tokenizer() => new("--tokenizer") { Description = "Tokenizer file when it is not beside the model (llama2.c tok*.bin, tokenizer.json)" };
}
