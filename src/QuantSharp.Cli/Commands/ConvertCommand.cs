// quantsharp convert: Hugging Face folder, llama2.c checkpoint or GGUF to a float GGUF that llama.cpp loads; GPTQ/AWQ folders to Q4_0/Q4_1 GGUF.
using System.CommandLine;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;

namespace QuantSharp.Cli.Commands;

internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .gguf path (written to a temporary file, renamed when complete)", Required = true };
        var outType = new Option<string>("--outtype") { Description = "Weight type: f32, f16, bf16, or auto (the source's type; a 4-bit GPTQ/AWQ folder: its grid as Q4_0/Q4_1 blocks, not re-quantized; f32/f16/bf16 write its dequantized weights)", DefaultValueFactory = _ => "auto" };
        outType.AcceptOnlyFromAmong("auto", "f32", "f16", "bf16");
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("convert", "Convert a model to GGUF (llama.cpp's architecture of the family); a 4-bit GPTQ/AWQ folder keeps its grid (Q4_0/Q4_1)") { model, output, outType, tokenizer };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            string outPath = Path.GetFullPath(r.GetValue(output)!);
            GgmlType? type = r.GetValue(outType) switch { "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, _ => null };
            using var m = LlamaModel.Load(r.GetValue(model)!, r.GetValue(tokenizer));
            var protect = new List<string>();
            if (r.GetValue(tokenizer) is { } tp) protect.Add(Path.GetFullPath(tp));
            if (type is null && m.Source is PackedCheckpointWeights)
            {
                // The checkpoint's integer grid goes into ggml blocks as it is (PackedCheckpointGgufImport says when it cannot).
                var (encoding, tensors) = PackedCheckpointGgufImport.Encoding(m);
                foreach (var g in tensors.GroupBy(t => t.Type))
                    Console.Error.WriteLine($"{g.Key}: {g.Count()} tensors from the {m.Format} grid"
                        + (g.Key == GgmlType.Q4_1 ? $" (only loss: the minimum −scale·zero rounded to fp16, at most {g.Max(t => t.MaxMinimumRounding):G3} of a step)" : " (bit-exact)"));
                CommandRunner.WithProgress("convert", p => { GgufLlamaExporter.Export(m, outPath, encoding, protectedPaths: protect, progress: p, cancellationToken: CommandRunner.Cancellation); return 0; });
            }
            else
                CommandRunner.WithProgress("convert", p => { GgufLlamaExporter.Export(m, outPath, type, protectedPaths: protect, progress: p, cancellationToken: CommandRunner.Cancellation); return 0; });
            Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length:N0} bytes)");
            return 0;
        }));
        return cmd;
    }
}
