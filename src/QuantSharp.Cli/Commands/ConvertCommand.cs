// quantsharp convert: Hugging Face folder (or llama2.c checkpoint) to GGUF.
using System.CommandLine;

namespace QuantSharp.Cli.Commands;

internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .gguf path", Required = true };
        var cmd = new Command("convert", "Convert a model to GGUF") { model, output };
        cmd.SetAction(r => CommandRunner.Run(() => throw new NotSupportedException("convert: not yet wired")));
        return cmd;
    }
}
