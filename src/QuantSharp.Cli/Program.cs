// quantsharp: the command-line front end. It only wires the libraries together.
using System.CommandLine;
using QuantSharp.Cli.Commands;

var root = new RootCommand("QuantSharp: quantize, evaluate and run language models on CPU.")
{
    InspectCommand.Create(),
    ConvertCommand.Create(),
    QuantizeCommand.Create(),
    RotateCommand.Create(),
    ImatrixCommand.Create(),
    PerplexityCommand.Create(),
    KldCommand.Create(),
    RunCommand.Create(),
    ServeCommand.Create(),
};
return root.Parse(args).Invoke();
