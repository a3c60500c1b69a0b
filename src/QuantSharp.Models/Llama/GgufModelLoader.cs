// Placeholder (superseded once the GGUF reader lands).
namespace QuantSharp.Models.Llama;

internal static class GgufModelLoader
{
    public static LlamaModel Load(string path) => throw new NotImplementedException(path);
}
