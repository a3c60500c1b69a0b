// quantsharp rotate: fold norms and fuse QuaRot/SpinQuant-style rotations (R1, R2) into a model's weights.
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Cli.Commands;

internal static class RotateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--out", "-o") { Description = "Output Hugging Face folder (new or empty; assembled under a temporary name)", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random Hadamard signs (same seed, same bytes)", DefaultValueFactory = _ => 0 };
        var noR2 = new Option<bool>("--no-r2") { Description = "Do not rotate the value heads and o_proj columns (R2)" };
        var outType = new Option<string>("--outtype") { Description = "Weight type written: f32 (default), or auto (the input's float type)", DefaultValueFactory = _ => "f32" };
        outType.AcceptOnlyFromAmong("f32", "auto");
        var threads = CommonOptions.Threads();
        var cmd = new Command("rotate", "Fold RMSNorms into the linears and rotate the residual stream (randomized Hadamard R1) and value heads (R2): the same function, a plain checkpoint that quantizes better")
            { model, output, seed, noR2, outType, threads };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            CommandRunner.SetThreads(r.GetValue(threads));
            string input = r.GetValue(model)!;
            string outDir = Path.GetFullPath(r.GetValue(output)!);
            // A bad destination (the input itself, a non-empty folder) fails before the work, not after it.
            if (Directory.Exists(input)) HfFolderOutput.CheckDestination(input, outDir);
            using var m = LlamaModel.Load(input);
            var options = new RotationOptions { Seed = r.GetValue(seed), HeadRotation = !r.GetValue(noR2), Threads = r.GetValue(threads) ?? 0 };
            DType type = r.GetValue(outType) == "auto" ? m.TokenEmbedding.DType : DType.F32;
            using var rotated = ModelRotation.Rotate(m, options, Console.WriteLine, CommandRunner.Cancellation);
            var record = new JsonObject
            {
                ["source"] = Path.GetFullPath(input),
                ["seed"] = options.Seed,
                ["r2"] = options.HeadRotation,
                ["notes"] = new JsonArray([.. rotated.Notes.Select(n => (JsonNode)n)]),
            };
            HfFloatCheckpointWriter.Write(input, rotated.Weights, type, rotated.Parameters.TiedEmbeddings, outDir,
                new Dictionary<string, string> { ["rotation.json"] = record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n" },
                CommandRunner.Cancellation, rotated.Record);
            Console.WriteLine($"wrote {outDir} ({type}, {rotated.Weights.TensorNames.Count} tensors)");
            return 0;
        }));
        return cmd;
    }
}
