// quantsharp inspect: what a model file holds.
using System.CommandLine;
using QuantSharp.Core.Tensors;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using Spectre.Console;

namespace QuantSharp.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor" };
        var cmd = new Command("inspect", "Architecture, tensors, dtypes, parameter count, size and bits per weight") { model, tensors };
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            using var m = LlamaModel.Load(r.GetValue(model)!);
            var hp = m.Parameters;
            var summary = ModelSummary.Of(m);
            var grid = new Grid().AddColumn().AddColumn();
            void Row(string k, string v) => grid.AddRow(new Markup($"[bold]{Markup.Escape(k)}[/]"), new Text(v));
            Row("origin", m.Origin);
            Row("format", m.Format);
            Row("architecture", "llama");
            Row("layers", hp.NumLayers.ToString());
            Row("width / ffn", $"{hp.Dim} / {hp.HiddenDim}");
            Row("heads / kv heads / head dim", $"{hp.NumHeads} / {hp.NumKvHeads} / {hp.HeadDim}");
            Row("vocabulary", hp.VocabSize.ToString());
            Row("context", hp.ContextLength.ToString());
            Row("rope", $"theta {hp.RopeTheta}, {hp.RopeLayout}{(hp.RopeScaling is { } s ? $", scaling {s.Type} ×{s.Factor}" : "")}");
            Row("tied embeddings", hp.TiedEmbeddings ? "yes" : "no");
            Row("tokenizer", m.Tokenizer is { } t ? $"{t.ToTokenizerData().Model}, {t.VocabSize} tokens" : "none");
            Row("parameters", $"{summary.Parameters:N0}");
            Row("tensor bytes", $"{summary.Bytes:N0} ({summary.Bytes / 1048576.0:F1} MiB)");
            Row("bits per weight", $"{8.0 * summary.Bytes / summary.Parameters:F3}");
            Row("dtypes", string.Join(", ", summary.ByType.Select(kv => $"{kv.Key}: {kv.Value} tensors")));
            // The rotation fused into the weights (config.json's quantsharp_rotation, GGUF's quantsharp.rotation.*): the
            // settings in the table, each matrix on a line of its own below it (too long for the table's column: a seed
            // wrapped at 80 columns could not be copied).
            Row("rotation", m.Rotation is { } rot ? RotationSummary.Settings(rot) : "none");
            AnsiConsole.Write(grid);
            if (m.Rotation is { } r1r2)
            {
                Console.WriteLine($"  rotation R1: {RotationSummary.Matrix(r1r2.Residual)}");
                Console.WriteLine($"  rotation R2: {(r1r2.ValueHead is { } r2 ? RotationSummary.Matrix(r2) : "off")}");
            }
            if (r.GetValue(tensors))
            {
                var table = new Table().AddColumns("name", "type", "shape", "bytes");
                foreach (var ti in summary.Tensors) table.AddRow(Markup.Escape(ti.Name), ti.Type, $"[{string.Join(", ", ti.Shape)}]", $"{ti.Bytes:N0}");
                AnsiConsole.Write(table);
            }
            return 0;
        }));
        return cmd;
    }
}
