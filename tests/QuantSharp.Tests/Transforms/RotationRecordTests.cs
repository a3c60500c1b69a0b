// Every output of a rotated run records the rotation's settings (config.json's quantsharp_rotation, GGUF's quantsharp.rotation.*) and they read back.
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Transforms;
using QuantSharp.Tests.Architectures;
using QuantSharp.Tests.Cli;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Transforms;

/// <summary>
/// <see cref="RotationRecord"/>: the seed, R1/R2 (kind, construction, order, seed), norm folding and the untied head, written
/// by <c>quantsharp rotate</c> (config.json), by converting or quantizing the rotated folder (GGUF keys, HF config), and by
/// <c>quantize --method rotate+…</c> into gguf:T, a <c>--type</c> mix, hf-gptq and hf-awq; read back from each by the file's
/// own reader (JSON, GGUF metadata) and by <see cref="LlamaModel.Load"/>. Outputs of unrotated models carry none; a rotated
/// model is refused a second rotation by name.
/// </summary>
[Trait("Category", "RealModel")]
public sealed class RotationRecordTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Train => SharedData.DataFile("sotu", "train-1790-2009.txt");

    public void Dispose() => _dir.Dispose();

    // What the fixtures (hidden 256, head_dim 64, final norm not ones: untied) rotated with seed 3 record.
    private static RotationRecord Expected(bool r2) => new()
    {
        Seed = 3,
        Residual = new RotationMatrixRecord(256, "randomized_hadamard", "sylvester 2^8", 3),
        ValueHead = r2 ? new RotationMatrixRecord(64, "randomized_hadamard", "sylvester 2^6", unchecked(3 + 0x9E3779B97F4A7C15UL)) : null,
        NormsFolded = true,
        HeadUntied = true,
    };

    private static RotationRecord? FromConfig(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        return RotationRecord.FromConfig(JsonNode.Parse(File.ReadAllText(path))!.AsObject(), path);
    }

    private static RotationRecord? FromGguf(string file)
    {
        using var gguf = new GgufFile(file);
        return RotationRecord.FromGguf(gguf.Metadata, file);
    }

    // The record as the file's reader and as the model loader read it.
    private void ReadsBack(string what, string path, RotationRecord expected)
    {
        var raw = Directory.Exists(path) ? FromConfig(path) : FromGguf(path);
        Assert.Equal(expected, raw);
        using var model = LlamaModel.Load(path);
        Assert.Equal(expected, model.Rotation);
        output.WriteLine($"{what}: {raw}");
    }

    [Fact]
    public void TheRotateCommandsFolderAndItsGgufRecordTheSettings()
    {
        string folder = ArchitectureFixture.Write(ArchitectureSpec.Llama, _dir.File("llama"));
        foreach (bool r2 in new[] { true, false })
        {
            string rotated = _dir.File("llama-rot-" + r2);
            var r = QuantSharpProcess.Run(["rotate", folder, "--out", rotated, "--seed", "3", "--threads", "1", .. r2 ? Array.Empty<string>() : ["--no-r2"]]);
            Assert.True(r.Code == 0, r.Err);
            ReadsBack($"rotate (R2 {r2}) config.json", rotated, Expected(r2));
            // The JSON as written: a plain object transformers keeps as a config attribute.
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(rotated, "config.json")))![RotationRecord.ConfigKey]!;
            Assert.Equal(3UL, json["seed"]!.GetValue<ulong>());
            Assert.Equal("sylvester 2^8", json["r1"]!["construction"]!.GetValue<string>());
            Assert.Equal(r2, json["r2"] is not null);

            // Converted to GGUF (F32) and quantized from the folder: the keys follow the weights.
            string f32 = _dir.File($"llama-rot-{r2}-f32.gguf"), q4 = _dir.File($"llama-rot-{r2}-q4k.gguf");
            using (var m = LlamaModel.Load(rotated)) GgufLlamaExporter.Export(m, f32, GgmlType.F32);
            ReadsBack($"rotated folder → F32 GGUF (R2 {r2})", f32, Expected(r2));
            QuantSharpModel.Quantize(new QuantizeRequest { Model = rotated, Output = q4, Type = "Q4_K_M" });
            ReadsBack($"rotated folder → Q4_K_M (R2 {r2})", q4, Expected(r2));
            using (var gguf = new GgufFile(q4))
            {
                Assert.Equal(3UL, gguf.Metadata.GetUInt64("quantsharp.rotation.seed"));
                Assert.Equal(r2, gguf.Metadata.GetBool("quantsharp.rotation.r2.enabled"));
                Assert.Equal(r2, gguf.Metadata.ContainsKey("quantsharp.rotation.r2.seed"));
            }
            // A GGUF of the GGUF keeps them too.
            string again = _dir.File($"llama-rot-{r2}-again.gguf");
            using (var m = LlamaModel.Load(f32)) GgufLlamaExporter.Export(m, again, GgmlType.F16);
            ReadsBack($"F32 GGUF → F16 GGUF (R2 {r2})", again, Expected(r2));
        }

        // An unrotated model's outputs carry nothing, and a rotated one is not rotated twice (one record could not describe it).
        string plain = _dir.File("llama-f32.gguf");
        using (var m = LlamaModel.Load(folder))
        {
            Assert.Null(m.Rotation);
            GgufLlamaExporter.Export(m, plain, GgmlType.F32);
        }
        using (var gguf = new GgufFile(plain)) Assert.DoesNotContain(gguf.Metadata.Keys, k => k.StartsWith("quantsharp.", StringComparison.Ordinal));
        var twice = QuantSharpProcess.Run("rotate", _dir.File("llama-rot-True"), "--out", _dir.File("twice"));
        Assert.NotEqual(0, twice.Code);
        Assert.Contains("already rotated", twice.Err);
        Assert.False(Directory.Exists(_dir.File("twice")));
    }

    public static TheoryData<string, string> RotatedRuns() => new()
    {
        // fixture, method and output
        { "llama", "rtn gguf:Q4_K" },
        { "llama", "gptq type:Q4_K_M" },
        { "llama", "rtn hf-gptq" },
        { "qwen2", "awq hf-awq" },
    };

    [Theory]
    [MemberData(nameof(RotatedRuns))]
    public void RotatePlusMethodRecordsTheSettingsInEveryOutputKind(string arch, string run)
    {
        string folder = ArchitectureFixture.Write(arch == "qwen2" ? ArchitectureSpec.Qwen2 : ArchitectureSpec.Llama, _dir.File(arch));
        var words = run.Split(' ');
        string? type = words[1].StartsWith("type:") ? words[1]["type:".Length..] : null;
        string? format = type is null ? words[1] : null;
        bool hf = format is "hf-gptq" or "hf-awq";
        var request = new QuantizeRequest
        {
            Model = folder, Output = "", Type = type, Format = format, Rotate = true, RotationSeed = 3,
            Method = words[0] switch { "rtn" => QuantizeMethod.Rtn, "gptq" => QuantizeMethod.Gptq, _ => QuantizeMethod.Awq },
            GroupSize = format == "hf-awq" ? 64 : null,
            Calibration = [Train], Samples = 4, SequenceLength = 64, Seed = 0,
        };
        foreach (bool r2 in new[] { true, false })
        {
            string a = _dir.File($"{arch}-{words[0]}-{r2}-a" + (hf ? "" : ".gguf")), b = _dir.File($"{arch}-{words[0]}-{r2}-b" + (hf ? "" : ".gguf"));
            QuantSharpModel.Quantize(request with { Output = a, NoHeadRotation = !r2 });
            ReadsBack($"{arch} rotate+{run} (R2 {r2})", a, Expected(r2));
            // Deterministic: no time or path in the record, the same run writes the same bytes.
            QuantSharpModel.Quantize(request with { Output = b, NoHeadRotation = !r2 });
            string file = hf ? "config.json" : "";
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));
        }
    }
}
