// quantsharp quantize: a model to a GGUF of one of llama.cpp's named mixes (Q4_K_M, …) or one block type (--pure).
using System.CommandLine;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Reporting.Charts;

namespace QuantSharp.Cli.Commands;

internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output .gguf (temporary file, renamed when complete)", Required = true };
        var type = new Option<string>("--type")
        {
            Description = "llama-quantize type: the mix of block types chosen per tensor as llama.cpp does (with --method: rounded by that method, calibrated by --calib): "
                + string.Join(", ", LlamaCppFileTypeNames.Names),
        };
        var pure = new Option<bool>("--pure") { Description = "Every 2-D weight in the type's default block type (llama-quantize --pure), e.g. --pure --type Q4_K" };
        var tensorType = new Option<string[]>("--tensor-type")
        {
            Description = "With --type: PATTERN=TYPE, tensors whose GGUF name the regular expression finds get TYPE instead of the mix's choice (llama-quantize's option; repeat it, the first match wins), e.g. --tensor-type attn_v=q6_k --tensor-type 'blk\\.[0-3]\\.ffn_down=q5_k'",
        };
        var tokenEmbeddingType = new Option<string?>("--token-embedding-type") { Description = "With --type: token_embd.weight's type (llama-quantize's option), e.g. q6_k" };
        var outputTensorType = new Option<string?>("--output-tensor-type") { Description = "With --type: output.weight's type for a model with an untied classifier (llama-quantize's option), e.g. q8_0" };
        var imatrix = new Option<string?>("--imatrix") { Description = "Importance matrix (llama.cpp imatrix GGUF or legacy .dat, e.g. from `quantsharp imatrix`) weighting each tensor's rounding" };
        var report = new Option<string?>("--report")
        {
            Description = "Write a quantization report into this folder: report.json (per tensor: role, type, bits, weight error, output error on the calibration data, time) and PNG charts of the errors by layer; a new, empty or previous-report folder",
        };
        var threads = CommonOptions.Threads();
        var tokenizer = CommonOptions.Tokenizer();
        var cmd = new Command("quantize", "Quantize a model: llama.cpp's named mixes (--type, byte-identical to llama-quantize) or a calibrated method (--method [rotate+]rtn|gptq|awq|awq+gptq --format gguf:T|hf-gptq|hf-awq), or a rotated float GGUF (--method rotate --format gguf:F32|F16|BF16)")
            { model, output, type, pure, tensorType, tokenEmbeddingType, outputTensorType, imatrix, report, threads, tokenizer };
        var methodOptions = new QuantizeMethodOptions();
        methodOptions.AddTo(cmd);
        cmd.SetAction(r => CommandRunner.Run(() =>
        {
            // One code path with the library: the request validates every rule (QuantizeRequest.Resolve) and runs.
            var request = methodOptions.Apply(r, new QuantizeRequest
            {
                Model = r.GetValue(model)!,
                Output = r.GetValue(output)!,
                Tokenizer = r.GetValue(tokenizer),
                Type = r.GetValue(type),
                Pure = r.GetValue(pure),
                TensorTypes = r.GetValue(tensorType) ?? [],
                TokenEmbeddingType = r.GetValue(tokenEmbeddingType),
                OutputTensorType = r.GetValue(outputTensorType),
                Imatrix = r.GetValue(imatrix),
                ReportDirectory = r.GetValue(report),
                ReportCharts = r.GetValue(report) is null ? null : new ScottPlotReportChartRenderer(),
                Execution = CommandRunner.Execution(r.GetValue(threads)),
                OnWarning = m => Console.Error.WriteLine($"warning: {m}"),
                OnInfo = m => Console.Error.WriteLine(m),
            });
            request.Validate();
            string title = request.Method is { } method ? $"quantize ({request.WrittenMethodName(method)})" : "quantize";
            var result = CommandRunner.WithProgress(title, p => QuantSharpModel.Quantize(request, new TupleProgress(p), CommandRunner.Cancellation));
            // The rotation the output records (a rotate+ method's, or the input's own); nothing for unrotated weights.
            if (result.Rotation is { } rotation) Console.WriteLine($"rotation: {rotation}");
            if (result.ReportDirectory is { } reportDir)
                Console.WriteLine($"report: {reportDir} ({result.Tensors.Count} quantized tensors"
                    + (result.UnquantizedTensors.Count > 0 ? $", {result.UnquantizedTensors.Count} kept in a float type, not quantized)" : ")"));
            if (result.Report is not { } rep)
            {
                Console.WriteLine($"wrote {result.OutputPath} ({new FileInfo(result.OutputPath).Length:N0} bytes, {result.Description})");
                return 0;
            }
            const double MiB = 1024 * 1024;
            var total = result.RunTime;
            var write = total - rep.Embedding - rep.Transforms - rep.Forward - rep.Statistics - rep.Quantization - result.ClassifierTime;
            Console.WriteLine($"wrote {result.OutputPath} ({result.Description})");
            Console.WriteLine($"time: load {result.LoadTime.TotalSeconds:F1} s, {(result.RotationTime > TimeSpan.Zero ? $"rotation (embedding, head) {result.RotationTime.TotalSeconds:F1} s, " : "")}calibration text {result.CalibrationTime.TotalSeconds:F1} s, embed {rep.Embedding.TotalSeconds:F1} s, {(rep.Transforms > TimeSpan.Zero ? $"transforms {rep.Transforms.TotalSeconds:F1} s, " : "")}forward {rep.Forward.TotalSeconds:F1} s, statistics {rep.Statistics.TotalSeconds:F1} s, quantize {rep.Quantization.TotalSeconds:F1} s, {(result.ClassifierTime > TimeSpan.Zero ? $"classifier {result.ClassifierTime.TotalSeconds:F1} s, " : "")}write+other {write.TotalSeconds:F1} s, total {total.TotalSeconds:F1} s");
            if (!rep.MemoryMeasured) return 0;
            rep.Memory.Sample();
            Console.WriteLine($"memory: peak managed {rep.Memory.PeakManagedBytes / MiB:F1} MiB, peak anonymous RSS {rep.Memory.PeakAnonymousBytes / MiB:F1} MiB (run start {rep.BaselineAnonymousBytes / MiB:F1} MiB), peak RSS incl. mapped model {rep.Memory.PeakResidentBytes / MiB:F1} MiB; "
                + $"whole model in fp32 {rep.ModelFp32Bytes / MiB:F1} MiB + calibration activations {rep.ActivationBytes / MiB:F1} MiB ({rep.CalibrationTokens:N0} tokens) = {(rep.ModelFp32Bytes + rep.ActivationBytes) / MiB:F1} MiB");
            return 0;
        }));
        return cmd;
    }
}

/// <summary>Forwards the library's progress to the CLI's progress bar.</summary>
internal sealed class TupleProgress(IProgress<(int Done, int Total)> inner) : IProgress<QuantizeProgress>
{
    public void Report(QuantizeProgress value) => inner.Report((value.Done, value.Total));
}
