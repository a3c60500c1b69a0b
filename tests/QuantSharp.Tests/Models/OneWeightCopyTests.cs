// A GGUF model whose weights the AVX-512 kernels repack holds them once: the file's pages are handed back and the file is unchanged.
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using QuantSharp.Core.Kernels;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Models;

/// <summary>
/// sotu-llama-30m as Q4_0 GGUF (every linear Q4_0: the int8 GEMM for the 64-token prefill, row quads for decode):
/// after a prefill and a few decode steps on AVX-512, the process keeps only a small part of the GGUF mapping
/// resident (the interleaved copies replaced the rows and their pages were handed back, <see cref="Core.IO.MappedPages"/>),
/// the file's bytes are unchanged, and the same forward run again (now reading only the copies, with the embedding
/// rows faulted back in from the file) gives the same logits bit for bit. Linux (reads /proc/self/smaps) with AVX-512.
/// </summary>
[Collection(Kernels.KernelOptionsCollection.Name)]
public sealed class OneWeightCopyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void RepackedGgufHoldsItsWeightsOnceAndTheFileIsUnchanged()
    {
        if (!OperatingSystem.IsLinux() || !KernelOptions.IsSupported(KernelIsa.Avx512) || !Avx512BW.IsSupported) return;
        string dir = Directory.CreateTempSubdirectory("qs-onecopy-").FullName;
        try
        {
            string gguf = Path.Combine(dir, "sotu-q4_0.gguf");
            QuantSharpModel.Quantize(new QuantizeRequest { Model = SharedData.Model("sotu-llama-30m"), Output = gguf, Type = "Q4_0", Pure = true });
            byte[] before = SHA256.HashData(File.ReadAllBytes(gguf));
            long fileBytes = new FileInfo(gguf).Length;

            using var scope = KernelOptions.Use(new ExecutionOptions { Isa = KernelIsa.Avx512, Threads = 2 });
            float[] first, second;
            long residentAfter;
            using (var model = LlamaModel.Load(gguf))
            {
                int[] prompt = model.Tokenizer!.Encode(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")))[..64];
                first = Run(model, prompt);
                residentAfter = MappingRss(gguf);
                second = Run(model, prompt);
            }
            output.WriteLine($"GGUF {fileBytes / 1024} KiB, resident after prefill + decode: {residentAfter / 1024} KiB");
            // Every linear and the tied head are Q4_0 with copies; what stays mapped is the F32 norms, the header and the embedding rows looked up.
            Assert.True(residentAfter < fileBytes / 5,
                $"{residentAfter / 1024} KiB of the {fileBytes / 1024} KiB GGUF mapping still resident after the copies were built");
            Assert.Equal(first.Length, second.Length);
            for (int i = 0; i < first.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(first[i]) == BitConverter.SingleToInt32Bits(second[i]), $"logit {i}: {second[i]:R} vs {first[i]:R}");
            Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(gguf)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Prefill of <paramref name="prompt"/> then four decode steps; all logits of the prefill and each step's.</summary>
    private static float[] Run(LlamaModel model, int[] prompt)
    {
        int vocab = model.Parameters.VocabSize;
        var session = new InferenceSession(model, 128);
        var logits = new float[(prompt.Length + 4) * vocab];
        session.Forward(prompt, logits.AsSpan(0, prompt.Length * vocab), allLogits: true);
        for (int t = 0; t < 4; t++)
            session.Forward([prompt[t]], logits.AsSpan((prompt.Length + t) * vocab, vocab), allLogits: false);
        return logits;
    }

    /// <summary>Resident bytes of this process's mappings of <paramref name="path"/> (sum of their smaps Rss).</summary>
    private static long MappingRss(string path)
    {
        string full = Path.GetFullPath(path);
        long kb = 0;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (IsHeader(line))
                inside = line.EndsWith(full, StringComparison.Ordinal);
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                kb += long.Parse(line[4..].Trim().Split(' ')[0]);
        }
        return kb * 1024;
    }

    /// <summary>An smaps mapping header: "start-end perms offset dev inode [path]".</summary>
    private static bool IsHeader(string line)
    {
        int dash = line.IndexOf('-');
        return dash > 0 && line.AsSpan(0, dash).IndexOfAnyExcept("0123456789abcdef") < 0 && line.IndexOf(' ') > dash;
    }
}
