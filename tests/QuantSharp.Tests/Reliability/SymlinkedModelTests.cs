// Regression test (issue 12): a Hugging Face cache snapshot (every file a symlink to a blob) loads like the folder itself.
using QuantSharp.Models.Llama;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Reliability;

[Trait("Category", "RealModel")]
public sealed class SymlinkedModelTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void AnHfCacheSnapshotOfLinksLoads()
    {
        // snapshots/<rev>/<file> -> ../../blobs/<name> -> the shared model file (links to links).
        string source = SharedData.Model("sotu-llama-30m");
        string blobs = Path.Combine(_dir.Path, "blobs"), snap = Path.Combine(_dir.Path, "snapshots", "rev");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snap);
        foreach (var f in Directory.GetFiles(source))
        {
            string name = Path.GetFileName(f);
            File.CreateSymbolicLink(Path.Combine(blobs, name + ".blob"), f);
            File.CreateSymbolicLink(Path.Combine(snap, name), Path.Combine("..", "..", "blobs", name + ".blob"));
        }
        using var viaLinks = LlamaModel.Load(snap);
        using var direct = LlamaModel.Load(source);
        Assert.Equal(direct.Parameters.NumLayers, viaLinks.Parameters.NumLayers);
        Assert.Equal(direct.Tokenizer!.Encode("The state of the union", false), viaLinks.Tokenizer!.Encode("The state of the union", false));
    }
}
