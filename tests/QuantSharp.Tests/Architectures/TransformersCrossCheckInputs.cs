// Writes the inputs of tools/device/transformers_xcheck.py (the cross-check against Hugging Face transformers on the lent GPU machine).
using System.Runtime.InteropServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Export;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Tests.Architectures;

/// <summary>
/// Not a check by itself: it writes every architecture fixture (at a 512-token vocabulary and hidden size 128, so that all
/// of them travel to the GPU machine within its 64 MiB), our engine's logits for 80 tokens, the rotated fixtures, and GPTQ
/// and AWQ exports of the Llama fixture with our engine's logits, into $QS_XCHECK_OUT; the Python script compares them
/// with transformers there. Skipped in CI (no transformers here); docs/architectures.md has the figures and the commands.
/// </summary>
public sealed class TransformersCrossCheckInputs
{
    private static void Dump(LlamaModel model, int[] tokens, string file)
    {
        int v = model.Parameters.VocabSize;
        var ours = new float[tokens.Length * v];
        var session = new InferenceSession(model, 128);
        session.Forward(tokens.AsSpan(0, 48), ours.AsSpan(0, 48 * v), allLogits: true);
        for (int t = 48; t < tokens.Length; t++) session.Forward(tokens.AsSpan(t, 1), ours.AsSpan(t * v, v), allLogits: false);
        File.WriteAllBytes(file, MemoryMarshal.AsBytes(ours.AsSpan()).ToArray());
    }

    [Fact(Skip = "writes the inputs of tools/device/transformers_xcheck.py: remove the Skip and set QS_XCHECK_OUT=DIR")]
    public void Write()
    {
        string root = Environment.GetEnvironmentVariable("QS_XCHECK_OUT") ?? throw new InvalidOperationException("set QS_XCHECK_OUT to the output folder");
        Directory.CreateDirectory(root);
        int[] tokens8192 = ArchitectureReferenceTests.Tokens(80);
        int[] tokens512 = tokens8192.Select(t => t % 512).ToArray();
        File.WriteAllText(Path.Combine(root, "tokens512.txt"), string.Join(' ', tokens512));
        File.WriteAllText(Path.Combine(root, "tokens8192.txt"), string.Join(' ', tokens8192));
        string[] names = ["llama", "mistral", "mistral-swa16", "qwen2", "qwen3", "gemma3", "qwen3_moe", "mixtral", "phi3", "phi3-swa16"];
        string[] rotatable = ["llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "mixtral", "phi3"];
        foreach (var name in names)
        {
            var spec = ArchitectureReferenceTests.Spec(name) with { Vocab = 512, Hidden = 128, HeadDim = ArchitectureReferenceTests.Spec(name).HeadDim / 2, Ffn = 256, ExpertFfn = 128 };
            string folder = ArchitectureFixture.Write(spec, Path.Combine(root, "fx", name));
            using var model = LlamaModel.Load(folder);
            Dump(model, tokens512, Path.Combine(root, "fx", name + ".ours.bin"));
            if (!rotatable.Contains(name)) { foreach (var f in Directory.GetFiles(folder, "tokenizer*")) File.Delete(f); continue; }
            using var rotated = ModelRotation.Rotate(model, new RotationOptions { Seed = 1 });
            HfFloatCheckpointWriter.Write(folder, rotated.Weights, DType.F32, rotated.Parameters.TiedEmbeddings, Path.Combine(root, "rot", name), rotation: rotated.Record);
            foreach (var f in Directory.GetFiles(folder, "tokenizer*").Concat(Directory.GetFiles(Path.Combine(root, "rot", name), "tokenizer*"))) File.Delete(f);
        }
        // GPTQ / AWQ exports of the Llama fixture at the real vocabulary (calibration needs the tokenizer).
        string llama = ArchitectureFixture.Write(ArchitectureSpec.Llama, Path.Combine(root, "q", "llama"));
        string calib = SharedData.DataFile("sotu", "train-1790-2009.txt");
        foreach (var (fmt, method, sym) in new[] { ("hf-gptq", QuantizeMethod.Gptq, false), ("hf-awq", QuantizeMethod.Awq, false) })
        {
            string outDir = Path.Combine(root, "q", fmt);
            QuantSharpModel.Quantize(new QuantizeRequest
            {
                Model = llama, Output = outDir, Method = method, Format = fmt, Bits = 4, GroupSize = 128,
                Symmetric = sym, Calibration = [calib], Samples = 8, SequenceLength = 128, Seed = 0,
            });
            using var m = LlamaModel.Load(outDir);
            Dump(m, tokens8192, Path.Combine(root, "q", fmt + ".ours.bin"));
        }
        foreach (var d in Directory.GetDirectories(Path.Combine(root, "q")))
            foreach (var f in Directory.GetFiles(d, "tokenizer*")) File.Delete(f);
        Directory.Delete(llama, recursive: true);
    }
}
