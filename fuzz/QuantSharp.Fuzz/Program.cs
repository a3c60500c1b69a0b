// quantsharp-fuzz: fuzz targets for every reader of untrusted files, run under AFL++/libFuzzer (SharpFuzz) or replayed from a folder.
using System.Text;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Awq;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Gptq;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Formats.Tokenizers;
using SharpFuzz;

namespace QuantSharp.Fuzz;

/// <summary>
/// Usage: <c>quantsharp-fuzz TARGET afl|libfuzzer|replay [DIR]</c>. TARGET is gguf, safetensors,
/// imatrix, hfconfig, gptqconfig or tokenizer. The contract under test: every input either reads
/// (and everything it serves can be read) or throws <see cref="InvalidDataException"/> or
/// <see cref="NotSupportedException"/>; any other exception is a crash the fuzzer records.
/// "seeds DIR" writes a small valid seed per target into DIR/TARGET/.
/// </summary>
public static class Program
{
    private static readonly Dictionary<string, Action<string>> Targets = new()
    {
        ["gguf"] = ReadGguf,
        ["safetensors"] = ReadSafetensors,
        ["imatrix"] = p => _ = ImatrixFile.Read(p).Entries.Count,
        ["hfconfig"] = p => _ = HfConfig.Load(p),
        // Both readers of quantization_config, as LlamaModel asks them: AWQ first, then GPTQ.
        ["gptqconfig"] = p => { _ = AwqQuantizationConfig.TryLoad(Path.GetDirectoryName(p)!); _ = GptqQuantizationConfig.TryLoad(Path.GetDirectoryName(p)!); },
        ["tokenizer"] = p => _ = TokenizerLoader.Load(p),
    };

    public static int Main(string[] args)
    {
        if (args.Length >= 2 && args[0] == "seeds") { Seeds.Write(args[1]); return 0; }
        if (args.Length < 2 || !Targets.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: quantsharp-fuzz {string.Join("|", Targets.Keys)} afl|libfuzzer|replay [DIR]  or  quantsharp-fuzz seeds DIR");
            return 2;
        }
        // Readers take paths (they memory-map); each input goes through one scratch file per process.
        // gptqconfig reads DIR/config.json, so the scratch file has that name in a folder of its own.
        string scratchDir = Path.Combine(Path.GetTempPath(), $"quantsharp-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(scratchDir);
        string scratch = Path.Combine(scratchDir, args[0] switch { "gptqconfig" or "hfconfig" => "config.json", "tokenizer" => "tokenizer.json", _ => "input" });
        void One(ReadOnlySpan<byte> data)
        {
            File.WriteAllBytes(scratch, data.ToArray());
            try { target(scratch); }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException) { }
        }
        try
        {
            switch (args[1])
            {
                case "afl":
                    Fuzzer.OutOfProcess.Run(stream =>
                    {
                        using var ms = new MemoryStream();
                        stream.CopyTo(ms);
                        One(ms.ToArray());
                    });
                    return 0;
                case "libfuzzer":
                    Fuzzer.LibFuzzer.Run(span => One(span));
                    return 0;
                case "replay":
                    int n = 0, bad = 0;
                    foreach (var f in Directory.EnumerateFiles(args.Length > 2 ? args[2] : ".", "*", SearchOption.AllDirectories))
                    {
                        n++;
                        try { One(File.ReadAllBytes(f)); }
                        catch (Exception e) { bad++; Console.WriteLine($"{f}: {e.GetType().Name}: {e.Message}"); }
                    }
                    Console.WriteLine($"{n} inputs, {bad} outside the contract");
                    return bad == 0 ? 0 : 1;
                default:
                    Console.Error.WriteLine($"unknown mode '{args[1]}' (afl, libfuzzer, replay)");
                    return 2;
            }
        }
        finally
        {
            try { Directory.Delete(scratchDir, recursive: true); } catch (IOException) { }
        }
    }

    private static void ReadGguf(string path)
    {
        using var f = new GgufFile(path);
        foreach (var (key, value) in f.Metadata.Entries) _ = key.Length + value.ToString()!.Length;
        foreach (var t in f.Tensors)
        {
            var core = GgmlTypeInfo.Of(t.Type).CoreType;
            if (core is { } d && !DTypeInfo.IsBlockQuantized(d)) FiniteCheck.FirstNonFinite(f.Get(t.Name));
            else f.ThrowIfNonFiniteScales(t.Name);
        }
        _ = GgufBitsPerWeight.Of(f);
    }

    private static void ReadSafetensors(string path)
    {
        using var f = new SafetensorsFile(path);
        foreach (var n in f.TensorNames) FiniteCheck.FirstNonFinite(f.Get(n));
    }

    /// <summary>Small valid inputs to start from.</summary>
    private static class Seeds
    {
        public static void Write(string root)
        {
            string Dir(string t) { var d = Path.Combine(root, t); Directory.CreateDirectory(d); return d; }

            var m = new GgufMetadata();
            m.SetString("general.architecture", "llama");
            m.SetUInt32("llama.block_count", 1);
            m.SetArray("tokenizer.ggml.tokens", new[] { "<unk>", "<s>", "</s>", "a", "b" });
            m.SetArray("tokenizer.ggml.scores", new[] { 0f, 0f, 0f, -1f, -2f });
            var w = new GgufWriter(m);
            w.AddTensor("f32", [2, 4], [1f, 2, 3, 4, 5, 6, 7, 8]);
            w.AddTensor("q8", GgmlType.Q8_0, [32], new byte[34]);
            w.WriteFile(Path.Combine(Dir("gguf"), "seed.gguf"));

            var s = new SafetensorsWriter();
            s.Metadata["format"] = "pt";
            s.AddTensor("w", DType.F32, [2, 2], new byte[16]);
            s.AddTensor("e", DType.BF16, [0], Array.Empty<byte>());
            s.WriteFile(Path.Combine(Dir("safetensors"), "seed.safetensors"));

            var im = new ImportanceMatrix([new ImportanceMatrixEntry("blk.0.attn_q.weight", 4, [1, 2, 3, 4], [8])], 1, 512, ["d"]);
            ImatrixFile.WriteGguf(im, Path.Combine(Dir("imatrix"), "seed.gguf"));
            ImatrixFile.WriteLegacy(im, Path.Combine(Dir("imatrix"), "seed.dat"));

            File.WriteAllText(Path.Combine(Dir("hfconfig"), "config.json"), """
                {"model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
                 "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":32,"rms_norm_eps":1e-5,
                 "rope_theta":10000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192},
                 "eos_token_id":[2,3],"bos_token_id":1,"tie_word_embeddings":true}
                """);
            File.WriteAllText(Path.Combine(Dir("gptqconfig"), "config.json"), """
                {"quantization_config":{"quant_method":"gptq","bits":4,"group_size":128,"desc_act":false,"sym":true,"damp_percent":0.01,"checkpoint_format":"gptq"}}
                """);
            File.WriteAllText(Path.Combine(Dir("gptqconfig"), "awq.json"), """
                {"quantization_config":{"quant_method":"awq","version":"gemm","bits":4,"group_size":128,"zero_point":true,"modules_to_not_convert":null}}
                """);
            File.WriteAllText(Path.Combine(Dir("tokenizer"), "tokenizer.json"), """
                {"version":"1.0","added_tokens":[{"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true}],
                 "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
                 "pre_tokenizer":null,
                 "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
                 "model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"<s>":1,"▁":2,"a":3,"▁a":4},"merges":["▁ a"]}}
                """, Encoding.UTF8);
        }
    }
}
