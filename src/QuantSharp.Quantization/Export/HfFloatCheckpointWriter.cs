// Writes a plain (unquantized) Hugging Face folder from fp32 tensors in memory: model.safetensors, config.json, tokenizer files.
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// A float Hugging Face checkpoint of the same architecture as its source folder: every tensor of a weight source
/// in one model.safetensors (F32, F16 or BF16, in the source's tensor order), the source's config.json with the
/// dtype and tie_word_embeddings set to what was written, extra JSON files (e.g. rotation.json) and every other
/// file of the source (tokenizer, generation config) copied. Assembled in a temporary folder beside the destination
/// and renamed into place when complete by <see cref="HfFolderOutput"/>, which refuses the input folder and a non-empty destination.
/// </summary>
public static class HfFloatCheckpointWriter
{
    /// <summary>Writes <paramref name="weights"/> (fp32 tensors) as the folder <paramref name="outputFolder"/>.</summary>
    /// <param name="sourceFolder">The Hugging Face folder the model came from (config.json, tokenizer files).</param>
    /// <param name="weights">fp32 tensors under their Hugging Face names.</param>
    /// <param name="dtype">F32, F16 or BF16.</param>
    /// <param name="tiedEmbeddings">Written as tie_word_embeddings.</param>
    /// <param name="outputFolder">Destination; must not exist or be empty, and must not be the source.</param>
    /// <param name="extraFiles">More files to write (name → text).</param>
    /// <param name="cancellationToken">Cancels; nothing is left at the destination.</param>
    /// <param name="rotation">The rotation fused into <paramref name="weights"/>, written as config.json's
    /// <see cref="RotationRecord.ConfigKey"/>; null keeps the source config's (a float copy of a rotated folder is still rotated).</param>
    public static void Write(string sourceFolder, IWeightSource weights, DType dtype, bool tiedEmbeddings, string outputFolder,
        IReadOnlyDictionary<string, string>? extraFiles = null, CancellationToken cancellationToken = default, RotationRecord? rotation = null)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16)) throw new ArgumentException($"a float checkpoint is F32, F16 or BF16, not {dtype}", nameof(dtype));
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        foreach (var name in weights.TensorNames)
        {
            var t = weights.Get(name);
            if (t.DType != DType.F32) throw new ArgumentException($"tensor '{name}' is {t.DType}; the writer takes fp32 tensors");
            writer.AddTensor(name, dtype, (long[])t.Shape.Clone(), s => WriteAs(name, weights.Get(name), dtype, s));
        }

        HfFolderOutput.Write(sourceFolder, outputFolder, tmp =>
        {
            writer.WriteFile(Path.Combine(tmp, "model.safetensors"), cancellationToken: cancellationToken);
            File.WriteAllText(Path.Combine(tmp, "config.json"), Config(sourceFolder, dtype, tiedEmbeddings, rotation));
            foreach (var (name, text) in extraFiles ?? new Dictionary<string, string>()) File.WriteAllText(Path.Combine(tmp, name), text);
        }, cancellationToken);
    }

    private static void WriteAs(string name, TensorView t, DType dtype, Stream s)
    {
        var f = MemoryMarshal.Cast<byte, float>(t.Bytes);
        switch (dtype)
        {
            case DType.F32:
                s.Write(t.Bytes);
                break;
            case DType.BF16:
                var b = new ushort[f.Length];
                FloatConversion.Float32ToBF16(f, b);
                s.Write(MemoryMarshal.AsBytes(b.AsSpan()));
                break;
            default:
                foreach (var x in f)
                    if (!float.IsFinite(x) || Math.Abs(x) > 65504f) throw new InvalidDataException($"tensor '{name}': value {x} does not fit in fp16");
                var h = new Half[f.Length];
                FloatConversion.Float32ToF16(f, h);
                s.Write(MemoryMarshal.AsBytes(h.AsSpan()));
                break;
        }
    }

    private static string Config(string source, DType dtype, bool tied, RotationRecord? rotation)
    {
        var root = HfFolderOutput.ReadConfig(source);
        if (rotation != null) root[RotationRecord.ConfigKey] = rotation.ToJson();
        string torch = dtype switch { DType.F32 => "float32", DType.F16 => "float16", _ => "bfloat16" };
        if (root.ContainsKey("dtype")) root["dtype"] = torch;
        root["torch_dtype"] = torch;
        root["tie_word_embeddings"] = tied;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
