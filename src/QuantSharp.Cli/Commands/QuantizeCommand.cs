// quantsharp quantize: a model to a GGUF of one of llama.cpp's named mixes (Q4_K_M, …) or one block type (--pure).
using System.CommandLine;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Recipes;

namespace QuantSharp.Cli.Commands;

internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .gguf (temporary file, renamed when complete)", Required = true };
        var type = new Option<string>("--type")
        {
            Description = "llama-quantize type: the mix of block types chosen per tensor as llama.cpp does: " + string.Join(", ", LlamaCppFileTypeNames.Names),
        };
        var pure = new Option<bool>("--pure") { Description = "Every 2-D weight in the type's default block type (llama-quantize --pure), e.g. --pure --type Q4_K" };
        var imatrix = new Option<string?>("--imatrix") { Description = "Importance matrix (llama.cpp imatrix GGUF or legacy .dat, e.g. from `quantsharp imatrix`) weighting each tensor's rounding" };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("quantize", "Quantize a model: llama.cpp's named mixes (--type, byte-identical to llama-quantize) or a calibrated method (--method rtn|gptq|awq|awq+gptq --format gguf:T|hf-gptq)")
            { model, output, type, pure, imatrix, threads, tokenizer };
        var methodOptions = new QuantizeMethodOptions();
        methodOptions.AddTo(cmd);
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            if (r.GetValue(methodOptions.Method) != null)
            {
                if (r.GetValue(type) != null || r.GetValue(pure) || r.GetValue(imatrix) != null)
                    throw new ArgumentException("--type/--pure/--imatrix and --method are alternatives: --method takes --format gguf:TYPE");
                return methodOptions.Run(r, r.GetValue(model)!, r.GetValue(tokenizer), Path.GetFullPath(r.GetValue(output)!));
            }
            var fileType = LlamaCppFileTypeNames.Parse(r.GetValue(type) ?? throw new ArgumentException("quantize needs --type NAME (llama.cpp mix, e.g. Q4_K_M) or --method rtn|gptq|awq|awq+gptq"));
            bool isPure = r.GetValue(pure);
            string outPath = Path.GetFullPath(r.GetValue(output)!);
            string? imatrixPath = r.GetValue(imatrix);
            var importance = imatrixPath is null ? null : ImatrixFile.Read(Path.GetFullPath(imatrixPath)).ToQuantizerImportance();
            using var m = LlamaModel.Load(r.GetValue(model)!, r.GetValue(tokenizer));
            CommandRunner.WithProgress("quantize", p =>
            {
                LlamaCppMixRecipe.Quantize(m, outPath, fileType, importance, pure: isPure, protectedPaths: CommonOptions.Inputs(r.GetValue(model)!, imatrixPath, r.GetValue(tokenizer)), progress: p, cancellationToken: CommandRunner.Cancellation);
                return 0;
            });
            string what = (isPure ? $"{fileType}, pure {LlamaCppFileTypeNames.DefaultType(fileType)}" : fileType.ToString())
                + (importance is null ? "" : $", imatrix {importance.Count} tensors");
            Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length:N0} bytes, {what})");
            return 0;
        }));
        return cmd;
    }
}
