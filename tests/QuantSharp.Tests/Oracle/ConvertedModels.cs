// The two real models converted once per test run to F32 GGUF with our writer, for the llama.cpp comparisons.
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Conversion;
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Oracle;

/// <summary>Collection fixture: F32 GGUF exports of sotu-llama-30m and stories260K in a temporary folder.</summary>
public sealed class ConvertedModels : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-oracle-").FullName;

    public ConvertedModels()
    {
        SotuFolder = SharedData.Model("sotu-llama-30m");
        StoriesCheckpoint = SharedData.Model("stories260K", "stories260K.bin");
        SotuGguf = Path.Combine(_dir, "sotu-f32.gguf");
        StoriesGguf = Path.Combine(_dir, "stories-f32.gguf");
        using (var m = LlamaModel.Load(SotuFolder)) GgufLlamaExporter.Export(m, SotuGguf, GgmlType.F32);
        using (var m = LlamaModel.Load(StoriesCheckpoint)) GgufLlamaExporter.Export(m, StoriesGguf, GgmlType.F32);
    }

    public string SotuFolder { get; }
    public string StoriesCheckpoint { get; }
    public string SotuGguf { get; }
    public string StoriesGguf { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class OracleCollection : ICollectionFixture<ConvertedModels>
{
    public const string Name = "llama.cpp oracle on real models";
}
