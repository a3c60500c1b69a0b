// quantsharp quantize: a model to a GGUF of one block type (round-to-nearest, llama.cpp's reference quantizers).
using System.CommandLine;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Cli.Commands;

internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .gguf (temporary file, renamed when complete)", Required = true };
        var type = new Option<string>("--type") { Description = "Block type for every 2-D weight (llama-quantize --pure): " + string.Join(", ", PureGgufRecipe.SupportedTypes) };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("quantize", "Quantize a model to GGUF (round-to-nearest into one block type; named mixes, imatrix and GPTQ are coming)") { model, output, type, threads, tokenizer };
        var methodOptions = new QuantizeMethodOptions();
        methodOptions.AddTo(cmd);
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            if (r.GetValue(methodOptions.Method) != null)
            {
                if (r.GetValue(type) != null) throw new ArgumentException("--type and --method are alternatives: --method takes --format gguf:TYPE");
                return methodOptions.Run(r, r.GetValue(model)!, r.GetValue(tokenizer), Path.GetFullPath(r.GetValue(output)!));
            }
            string name = r.GetValue(type) ?? throw new ArgumentException("quantize needs --type T (whole-model round-to-nearest) or --method rtn|gptq");
            if (!Enum.TryParse<DType>(name, ignoreCase: true, out var dtype) || Array.IndexOf(PureGgufRecipe.SupportedTypes, dtype) < 0)
                throw new ArgumentException($"--type '{name}' is not supported; choose one of {string.Join(", ", PureGgufRecipe.SupportedTypes)}");
            string outPath = Path.GetFullPath(r.GetValue(output)!);
            using var m = LlamaModel.Load(r.GetValue(model)!, r.GetValue(tokenizer));
            CommandRunner.WithProgress("quantize", p => { PureGgufRecipe.Quantize(m, outPath, dtype, progress: p, cancellationToken: CommandRunner.Cancellation); return 0; });
            Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length:N0} bytes, {dtype})");
            return 0;
        }));
        return cmd;
    }
}
