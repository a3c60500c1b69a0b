// Broken model files fail to load with a message naming the file and the tensor.
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Models;

[Trait("Category", "RealModel")]
public sealed class BadModelInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qs-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyStories(Action<byte[]> corrupt)
    {
        var bytes = File.ReadAllBytes(SharedData.Model("stories260K", "stories260K.bin"));
        corrupt(bytes);
        string path = Path.Combine(_dir, "stories.bin");
        File.WriteAllBytes(path, bytes);
        File.Copy(SharedData.Model("stories260K", "tok512.bin"), Path.Combine(_dir, "tok512.bin"), overwrite: true);
        return path;
    }

    [Fact]
    public void NaNInAWeightMatrixIsReportedWithTheTensorName()
    {
        // Header 28 bytes, then the 512×64 fp32 token embedding: element 100 lies inside it.
        string path = CopyStories(b => BitConverter.GetBytes(float.NaN).CopyTo(b, 28 + 4 * 100));
        var ex = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
        Assert.Contains("tok_embeddings.weight", ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void TruncatedCheckpointIsRejected()
    {
        var bytes = File.ReadAllBytes(SharedData.Model("stories260K", "stories260K.bin"));
        string path = Path.Combine(_dir, "short.bin");
        File.WriteAllBytes(path, bytes[..(bytes.Length - 4)]);
        var ex = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path, SharedData.Model("stories260K", "tok512.bin")));
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void HostileHeaderIsRejected()
    {
        string path = CopyStories(b => BitConverter.GetBytes(-7).CopyTo(b, 8)); // n_layers = -7
        var ex = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
        Assert.Contains("n_layers", ex.Message);
    }

    [Fact]
    public void UnknownFileKindIsRejected()
    {
        string path = Path.Combine(_dir, "model.onnx");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
    }
}
