// Regression tests (issue 12): hostile or broken inputs end in the documented exception, quickly and with bounded memory.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using QuantSharp.Core.IO;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Gptq;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.Tokenizers;

namespace QuantSharp.Tests.Reliability;

public sealed class HostileInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string SotuShard => SharedData.Model("sotu-llama-30m", "model-00005-of-00005.safetensors");

    // ---------------------------------------------------------------- GGUF

    [Theory]
    [InlineData(7u)]  // bool array: every element used to format "key[i]"
    [InlineData(8u)]  // string array
    [InlineData(9u)]  // nested arrays
    public void GgufMetadataReadingIsLinearInALongKeyTimesALongArray(uint elementType)
    {
        // 1 MB key, then an array that fills 1 MB more with the smallest elements of its type.
        string key = new('k', 1 << 20);
        var raw = new RawGguf().Header(tensors: 0, kvs: 1).Str(key).U32(9).U32(elementType);
        int n = elementType switch { 7u => 1 << 20, 8u => (1 << 20) / 8, _ => (1 << 20) / 12 };
        raw.U64((ulong)n);
        for (int i = 0; i < n; i++)
        {
            if (elementType == 7u) raw.U8(1);
            else if (elementType == 8u) raw.U64(0);
            else raw.U32(4).U64(0); // empty nested uint32 arrays
        }
        // Spoil the very end so the reader has to walk everything before it fails.
        var bytes = raw.U8(0).ToArray();
        string path = _dir.File("long.gguf");
        File.WriteAllBytes(path, bytes);

        var sw = Stopwatch.StartNew();
        try { using var f = new GgufFile(path); }
        catch (InvalidDataException) { }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        // The same reader serves imatrix files.
        sw.Restart();
        Assert.Throws<InvalidDataException>(() => ImatrixFile.Read(path));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"imatrix took {sw.Elapsed}");
    }

    [Fact]
    public void AHugeStringLengthAllocatesAtMostASmallMultipleOfTheFile()
    {
        // A 16 MB key followed by an unknown value type: the reader must fail cleanly without
        // multiplying the key's 16 MB into message after message.
        const int len = 16 << 20;
        var raw = new RawGguf().Header(tensors: 0, kvs: 1).U64(len).Zeros(len).U32(99).U32(0);
        string path = _dir.File("bigkey.gguf");
        File.WriteAllBytes(path, raw.ToArray());
        long fileBytes = new FileInfo(path).Length;

        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => new GgufFile(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("unknown value type", e.Message);
        Assert.True(e.Message.Length < 2000, $"message of {e.Message.Length} characters");
        // The key itself is a UTF-16 string: twice the bytes. Anything above 3× is copying.
        Assert.True(allocated < 3 * fileBytes, $"allocated {allocated:N0} bytes for a {fileBytes:N0}-byte file");
    }

    [Fact]
    public void AStringLengthBeyondTheFileIsRefusedBeforeAllocating()
    {
        var raw = new RawGguf().Header(tensors: 0, kvs: 1).Str("general.name").U32(8).U64(16 << 20).Zeros(64);
        string path = _dir.File("short.gguf");
        File.WriteAllBytes(path, raw.ToArray());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => new GgufFile(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("general.name", e.Message);
    }

    // ---------------------------------------------------------------- safetensors

    private string WriteSafetensors(string header, int dataBytes, string name = "x.safetensors")
    {
        var h = Encoding.UTF8.GetBytes(header);
        return WriteSafetensors(h, dataBytes, name);
    }

    private string WriteSafetensors(byte[] header, int dataBytes, string name = "x.safetensors")
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        string path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void AnEmptyTensorBetweenTwoOverlappingOnesDoesNotHideTheOverlap()
    {
        // a = [0, 64), e = [8, 8) (empty), b = [16, 32): b lies inside a.
        string path = WriteSafetensors("""
            {"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},
             "e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},
             "b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}
            """, 64);
        var e = Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
        Assert.Contains("overlap", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void ALongTensorThenAShortOneThenAnOverlappingOneIsCaught()
    {
        // a = [0, 64), b = [4, 8), c = [32, 48): c overlaps a but not its neighbour b.
        string path = WriteSafetensors("""
            {"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},
             "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},
             "c":{"dtype":"F32","shape":[4],"data_offsets":[32,48]}}
            """, 64);
        Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[null,4]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "x.safetensors")]
    [InlineData("""{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    public void MalformedHeadersAreInvalidData(string header, string expected)
    {
        string path = WriteSafetensors(header, 4);
        var e = Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void InvalidUtf8InASafetensorsHeaderNamesTheFile()
    {
        var h = Encoding.UTF8.GetBytes("{\"a\u00e9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        int i = Array.IndexOf(h, (byte)0xC3);
        h[i] = 0xFF; // not UTF-8
        string path = WriteSafetensors(h, 4);
        var e = Assert.Throws<InvalidDataException>(() => new SafetensorsFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void AModelReachedThroughSymlinksOpens()
    {
        // The Hugging Face cache keeps snapshots/<rev>/model.safetensors -> ../../blobs/<hash>.
        string blobs = Path.Combine(_dir.Path, "blobs"), snap = Path.Combine(_dir.Path, "snapshots", "abc");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snap);
        File.Copy(SotuShard, Path.Combine(blobs, "0123"));
        File.CreateSymbolicLink(Path.Combine(snap, "model.safetensors"), Path.Combine("..", "..", "blobs", "0123"));
        using var model = SafetensorsModel.Open(snap);
        Assert.NotEmpty(model.TensorNames);
        var t = model.Get(model.TensorNames[0]);
        Assert.True(t.ElementCount > 0);
    }

    [Fact]
    public void AFileTruncatedWhileOpenIsNamedInsteadOfCrashing()
    {
        string path = _dir.File("m.safetensors");
        File.Copy(SotuShard, path);
        using var f = new SafetensorsFile(path);
        f.Get(f.TensorNames[0]);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(100);
        var e = Assert.Throws<IOException>(() => f.Get(f.TensorNames[0]));
        Assert.Contains(path, e.Message);
        Assert.Contains("changed", e.Message);
        Assert.Throws<IOException>(() => ((QuantSharp.Formats.IWeightSource)f).ThrowIfChanged());
    }

    // ---------------------------------------------------------------- config.json

    private const string Base = """
        "model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":512,"intermediate_size":1536,
        "num_hidden_layers":8,"num_attention_heads":8,"num_key_value_heads":4,"vocab_size":8192,
        "max_position_embeddings":1024
        """;

    private HfConfig LoadConfig(string extra)
    {
        string path = _dir.File("config.json");
        File.WriteAllText(path, "{" + Base + extra + "}");
        return HfConfig.Load(path);
    }

    [Theory]
    [InlineData(""","eos_token_id":1.5""", "eos_token_id")]
    [InlineData(""","eos_token_id":1e-300""", "eos_token_id")]
    [InlineData(""","eos_token_id":[4294967296]""", "eos_token_id")]
    [InlineData(""","eos_token_id":-1""", "eos_token_id")]
    [InlineData(""","eos_token_id":"2" """, "eos_token_id")]
    [InlineData(""","bos_token_id":1e30""", "bos_token_id")]
    [InlineData(""","rms_norm_eps":0""", "rms_norm_eps")]
    [InlineData(""","rms_norm_eps":-1e-5""", "rms_norm_eps")]
    [InlineData(""","rope_theta":0""", "rope_theta")]
    [InlineData(""","rope_theta":-10000""", "rope_theta")]
    [InlineData(""","rope_theta":1e-300""", "rope_theta")]
    [InlineData(""","rope_theta":1e300""", "rope_theta")]
    [InlineData(""","rope_parameters":{"rope_theta":0}""", "rope_theta")]
    [InlineData(""","rope_scaling":{"rope_type":"linear","factor":0}""", "factor")]
    [InlineData(""","rope_scaling":{"rope_type":"linear","factor":-2}""", "factor")]
    [InlineData(""","rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":4}""", "high_freq_factor")]
    [InlineData(""","head_dim":0""", "head_dim")]
    [InlineData(""","rope_scaling":{"rope_type":"linear","factor":2,"original_max_position_embeddings":-5}""", "original_max_position_embeddings")]
    [InlineData(""","hidden_size":512""", "config.json")] // a duplicate key
    public void BadConfigValuesAreInvalidDataNamingFileAndField(string extra, string field)
    {
        var e = Assert.Throws<InvalidDataException>(() => LoadConfig(extra));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void SharedHyperParameterChecksNameFileAndKey()
    {
        // The GGUF loader's keys go through the same checks as config.json's.
        const string f = "m.gguf";
        Assert.Contains("llama.attention.layer_norm_rms_epsilon", Assert.Throws<InvalidDataException>(() => QuantSharp.Formats.HyperParameterChecks.RmsEpsilon(f, "llama.attention.layer_norm_rms_epsilon", float.NaN)).Message);
        Assert.Throws<InvalidDataException>(() => QuantSharp.Formats.HyperParameterChecks.RopeTheta(f, "llama.rope.freq_base", 0, 64));
        Assert.Throws<InvalidDataException>(() => QuantSharp.Formats.HyperParameterChecks.RopeTheta(f, "llama.rope.freq_base", 1e300, 64));
        Assert.Throws<InvalidDataException>(() => QuantSharp.Formats.HyperParameterChecks.ScalingFactor(f, "llama.rope.scaling.factor", 0));
        Assert.Throws<InvalidDataException>(() => QuantSharp.Formats.HyperParameterChecks.PositiveCount(f, "llama.block_count", 0));
        Assert.Equal(10000.0, QuantSharp.Formats.HyperParameterChecks.RopeTheta(f, "llama.rope.freq_base", 10000, 64));
        Assert.Equal(1e-5, QuantSharp.Formats.HyperParameterChecks.RmsEpsilon(f, "k", 1e-5));
    }

    [Fact]
    public void GoodConfigsStillLoad()
    {
        var c = LoadConfig(""","eos_token_id":[2, 3],"bos_token_id":1,"rms_norm_eps":1e-6,"rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}""");
        Assert.Equal(2, c.EosTokenId);
        Assert.Equal(1, c.BosTokenId);
    }

    [Fact]
    public void InvalidUtf8InConfigJsonNamesTheFile()
    {
        string path = _dir.File("config.json");
        var bytes = Encoding.UTF8.GetBytes("{" + Base + ",\"hidden_act\":\"si\u00e9lu\"}");
        bytes[Array.IndexOf(bytes, (byte)0xC3)] = 0xC0;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => HfConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    [Theory]
    [InlineData("""{"quantization_config":{"quant_method":"gptq","bits":4,"bits":8}}""", "config.json")]
    [InlineData("""{"quantization_config":{"quant_method":4,"bits":4}}""", "quant_method")]
    [InlineData("""{"quantization_config":{"quant_method":"gptq","bits":"4"}}""", "bits")]
    [InlineData("""{"quantization_config":{"quant_method":"gptq","bits":4,"desc_act":"yes"}}""", "desc_act")]
    [InlineData("""{"quantization_config":{"quant_method":"gptq","bits":4,"checkpoint_format":[]}}""", "checkpoint_format")]
    public void BadGptqQuantizationConfigsAreInvalidData(string json, string expected)
    {
        File.WriteAllText(_dir.File("config.json"), json);
        var e = Assert.Throws<InvalidDataException>(() => GptqQuantizationConfig.TryLoad(_dir.Path));
        Assert.Contains(expected, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    // ---------------------------------------------------------------- tokenizer.json

    [Fact]
    public void ADecoderStripStartBeyondIntIsInvalidData()
    {
        var root = JsonNode.Parse(SyntheticTokenizerJson.Build())!;
        var decoders = root["decoder"]!["decoders"]!.AsArray();
        decoders[3]!["start"] = 1e12;
        var e = Assert.Throws<InvalidDataException>(() => SentencePieceBpeTokenizer.FromJson(HfTokenizerJson.Parse("t.json", Encoding.UTF8.GetBytes(root.ToJsonString()))));
        Assert.Contains("start", e.Message);
        Assert.Contains("t.json", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ANumberWhereTheTokenizerExpectsAStringIsInvalidData(bool metaspace)
    {
        var root = JsonNode.Parse(SyntheticTokenizerJson.Build(metaspace: metaspace))!;
        if (metaspace) root["pre_tokenizer"]!["replacement"] = 9;
        else root["normalizer"]!["normalizers"]![0]!["prepend"] = 9;
        var e = Assert.Throws<InvalidDataException>(() => SentencePieceBpeTokenizer.FromJson(HfTokenizerJson.Parse("t.json", Encoding.UTF8.GetBytes(root.ToJsonString()))));
        Assert.Contains("t.json", e.Message);
    }

    [Fact]
    public void OneHugeTokenIdIsRefusedBeforeAnythingIsSizedByIt()
    {
        var root = JsonNode.Parse(File.ReadAllText(SharedData.Model("sotu-llama-30m", "tokenizer.json")))!;
        var vocab = root["model"]!["vocab"]!.AsObject();
        string someToken = vocab.First(kv => kv.Value!.GetValue<int>() == 100).Key;
        vocab[someToken] = 16_777_215;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => HfTokenizerJson.Parse("tokenizer.json", Encoding.UTF8.GetBytes(root.ToJsonString())));
        Assert.Contains("16777215", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 200L << 20);
        // The unmodified file still loads.
        Assert.Equal(8192, HfTokenizerJson.Load(SharedData.Model("sotu-llama-30m", "tokenizer.json")).IdCount);
    }

    // ---------------------------------------------------------------- temporaries of killed runs

    [Fact]
    public void TemporariesOfDeadProcessesAreSweptAndLiveOnesKept()
    {
        int dead;
        using (var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!) { p.WaitForExit(); dead = p.Id; }
        Assert.False(AtomicFile.IsAlive(dead));
        string target = _dir.File("out.gguf");
        string stale = target + AtomicFile.TempInfix + dead + "-0123abcd";
        string mine = target + AtomicFile.TempInfix + Environment.ProcessId + "-0123abcd";
        string other = target + ".tmp-notapid";
        File.WriteAllText(stale, "x");
        File.WriteAllText(mine, "x");
        File.WriteAllText(other, "x");
        GgufSamples.WriteSmall(target);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(mine));
        Assert.True(File.Exists(other));
        using var f = new GgufFile(target);
        Assert.Equal(2, f.Tensors.Count);
    }
}

public sealed class SymlinkedInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void GgufAndImatrixFilesReachedThroughRelativeLinksOpen()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "blobs"));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "snap"));
        string blob = Path.Combine(_dir.Path, "blobs", "b1");
        GgufSamples.WriteSmall(blob);
        string link = Path.Combine(_dir.Path, "snap", "m.gguf");
        File.CreateSymbolicLink(link, Path.Combine("..", "blobs", "b1"));
        using (var f = new GgufFile(link))
        {
            Assert.Equal(new FileInfo(blob).Length, f.FileLength);
            Assert.True(GgufBitsPerWeight.Of(f).FileBytes > 0);
        }
        var m = new ImportanceMatrix([new ImportanceMatrixEntry("blk.0.ffn_up.weight", 4, [1, 2, 3, 4], [8])], 1, 512, ["d"]);
        string iblob = Path.Combine(_dir.Path, "blobs", "i1");
        ImatrixFile.WriteGguf(m, iblob);
        string ilink = Path.Combine(_dir.Path, "snap", "imatrix.gguf");
        File.CreateSymbolicLink(ilink, Path.Combine("..", "blobs", "i1"));
        Assert.Single(ImatrixFile.Read(ilink).Entries);
        // Writing to the link's name must not destroy the blob it points at when the blob is an input.
        Assert.Throws<IOException>(() => ImatrixFile.WriteGguf(m, ilink, [iblob]));
    }
}
