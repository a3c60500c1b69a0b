// llama.cpp imatrix files: round trips of both layouts, the legacy value scaling, quantizer importance, and hostile files.
using System.Buffers.Binary;
using System.Text;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Formats;

public sealed class ImatrixFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // Two dense weights and one 3-matrix (MoE-style) weight with an expert that saw no tokens.
    private static ImportanceMatrix Sample()
    {
        var rng = new Random(7);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 100)).ToArray();
        return new ImportanceMatrix(
        [
            new ImportanceMatrixEntry("blk.1.ffn_down.weight", 96, Values(96), [2048]),
            new ImportanceMatrixEntry("blk.0.attn_q.weight", 64, Values(64), [2048]),
            new ImportanceMatrixEntry("blk.0.ffn_up_exps.weight", 32, Values(96), [700, 0, 1348]),
        ], chunkCount: 4, chunkSize: 512, datasets: ["calib/a.txt", "b.txt"]);
    }

    private static void AssertSame(ImportanceMatrix expected, ImportanceMatrix actual)
    {
        Assert.Equal(expected.ChunkCount, actual.ChunkCount);
        Assert.Equal(expected.ChunkSize, actual.ChunkSize);
        Assert.Equal(expected.Datasets, actual.Datasets);
        Assert.Equal(expected.Entries.Select(e => e.Name), actual.Entries.Select(e => e.Name));
        foreach (var e in expected.Entries)
        {
            var a = actual[e.Name];
            Assert.Equal(e.Columns, a.Columns);
            Assert.Equal(e.Counts, a.Counts);
            Assert.Equal(e.SumOfSquares, a.SumOfSquares);
        }
    }

    [Fact]
    public void GgufRoundTripKeepsEveryValueAndSortsEntriesByName()
    {
        var m = Sample();
        Assert.Equal(["blk.0.attn_q.weight", "blk.0.ffn_up_exps.weight", "blk.1.ffn_down.weight"], m.Entries.Select(e => e.Name));
        string path = _dir.File("x.gguf");
        ImatrixFile.WriteGguf(m, path);
        Assert.Equal(ImatrixFormat.Gguf, ImatrixFile.DetectFormat(path));
        AssertSame(m, ImatrixFile.Read(path));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void GgufLayoutIsLlamaImatrixs()
    {
        string path = _dir.File("x.gguf");
        ImatrixFile.WriteGguf(Sample(), path);
        using var f = new GgufFile(path);
        Assert.Equal(["general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"], f.Metadata.Keys);
        Assert.Equal("imatrix", f.Metadata.GetString("general.type"));
        Assert.Equal(["calib/a.txt", "b.txt"], f.Metadata.GetArray<string>("imatrix.datasets"));
        Assert.Equal(4u, f.Metadata.GetUInt32("imatrix.chunk_count"));
        Assert.Equal(512u, f.Metadata.GetUInt32("imatrix.chunk_size"));
        // in_sum2 then counts per weight, sorted; ggml_n_dims drops the unit dimension of dense weights.
        Assert.Equal(
            ["blk.0.attn_q.weight.in_sum2 F32 [64]", "blk.0.attn_q.weight.counts F32 [1]",
             "blk.0.ffn_up_exps.weight.in_sum2 F32 [32, 3]", "blk.0.ffn_up_exps.weight.counts F32 [1, 3]",
             "blk.1.ffn_down.weight.in_sum2 F32 [96]", "blk.1.ffn_down.weight.counts F32 [1]"],
            f.Tensors.Select(t => $"{t.Name} {t.Type} [{string.Join(", ", t.Dimensions)}]"));
        Assert.Equal([700f, 0f, 1348f], f.Get("blk.0.ffn_up_exps.weight.counts").ToFloat32());
    }

    [Fact]
    public void QuantizerImportanceIsSumOverCountAndOneForMatricesWithoutTokens()
    {
        var m = Sample();
        var imp = m.ToQuantizerImportance();
        var e = m["blk.0.ffn_up_exps.weight"];
        var v = imp["blk.0.ffn_up_exps.weight"];
        Assert.Equal(96, v.Length);
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(e.SumOfSquares[i] / 700f, v[i]);
            Assert.Equal(1f, v[32 + i]);
            Assert.Equal(e.SumOfSquares[64 + i] / 1348f, v[64 + i]);
        }
        Assert.Equal(m["blk.0.attn_q.weight"].SumOfSquares.Select(s => s / 2048f), imp["blk.0.attn_q.weight"]);
    }

    [Fact]
    public void LegacyWriteStoresMeanTimesNcallAndReadsBackTheSameImportance()
    {
        var m = Sample();
        string path = _dir.File("x.dat");
        ImatrixFile.WriteLegacy(m, path);
        Assert.Equal(ImatrixFormat.Legacy, ImatrixFile.DetectFormat(path));

        // Decode by hand: llama-imatrix's save_imatrix_legacy layout.
        var b = File.ReadAllBytes(path);
        int pos = 0;
        int I32() { int v = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(pos)); pos += 4; return v; }
        Assert.Equal(3, I32());
        var expectedNames = m.Entries.Select(e => e.Name).ToArray();
        foreach (var name in expectedNames)
        {
            int len = I32();
            Assert.Equal(name, Encoding.UTF8.GetString(b, pos, len));
            pos += len;
            var e = m[name];
            int ncall = I32();
            Assert.Equal((int)((e.Counts.Max() + 511) / 512), ncall);
            int nval = I32();
            Assert.Equal(e.SumOfSquares.Length, nval);
            for (int i = 0; i < nval; i++)
            {
                float count = e.Counts[i / e.Columns];
                float expected = count == 0 ? ncall : e.SumOfSquares[i] / count * ncall;
                Assert.Equal(expected, BitConverter.Int32BitsToSingle(I32()));
            }
        }
        Assert.Equal(4, I32());
        int dlen = I32();
        Assert.Equal("b.txt", Encoding.UTF8.GetString(b, pos, dlen));
        Assert.Equal(b.Length, pos + dlen);

        // Read back: one matrix per entry (the layout has no expert split), importance = stored / ncall.
        var r = ImatrixFile.Read(path);
        Assert.Equal(4, r.ChunkCount);
        Assert.Equal(["b.txt"], r.Datasets);
        var imp = r.ToQuantizerImportance();
        var q = r["blk.0.attn_q.weight"];
        Assert.Equal([4L * 512], q.Counts);
        var original = m.ToQuantizerImportance()["blk.0.attn_q.weight"];
        for (int i = 0; i < original.Length; i++)
        {
            float stored = original[i] * 4; // (sum / count) × ncall, as written
            Assert.Equal(stored / 4, imp["blk.0.attn_q.weight"][i]);
        }
    }

    [Fact]
    public void LegacyWithoutTrailerIsAccepted()
    {
        var b = new List<byte>();
        void I32(int v) => b.AddRange(BitConverter.GetBytes(v));
        I32(1); I32(3); b.AddRange("abc"u8.ToArray()); I32(2); I32(2);
        b.AddRange(BitConverter.GetBytes(4f)); b.AddRange(BitConverter.GetBytes(6f));
        string path = _dir.File("old.dat");
        File.WriteAllBytes(path, b.ToArray());
        var m = ImatrixFile.ReadLegacy(path);
        Assert.Equal(2, m.ChunkCount);
        Assert.Empty(m.Datasets);
        Assert.Equal([2f, 3f], m.ToQuantizerImportance()["abc"]);
    }

    [Fact]
    public void LegacyWriteSkipsEntriesWithoutTokensAndRefusesAnEmptyResult()
    {
        var m = new ImportanceMatrix([new ImportanceMatrixEntry("a", 2, [1, 2], [0]), new ImportanceMatrixEntry("b", 2, [1, 2], [10])], 0, 512, []);
        string path = _dir.File("x.dat");
        ImatrixFile.WriteLegacy(m, path);
        Assert.Equal(["b"], ImatrixFile.ReadLegacy(path).Entries.Select(e => e.Name));
        var empty = new ImportanceMatrix([new ImportanceMatrixEntry("a", 2, [1, 2], [0])], 0, 512, []);
        Assert.Throws<ArgumentException>(() => ImatrixFile.WriteLegacy(empty, _dir.File("y.dat")));
        Assert.False(File.Exists(_dir.File("y.dat")));
    }

    [Fact]
    public void WritingRefusesToOverwriteAnInput()
    {
        string input = _dir.File("model.gguf");
        File.WriteAllText(input, "model");
        Assert.Throws<IOException>(() => ImatrixFile.WriteGguf(Sample(), input, [input]));
        Assert.Throws<IOException>(() => ImatrixFile.WriteLegacy(Sample(), input, [input]));
        Assert.Equal("model", File.ReadAllText(input));
    }

    // Every strict prefix of a valid file is refused with a message naming the file.
    [Theory]
    [InlineData(ImatrixFormat.Gguf)]
    [InlineData(ImatrixFormat.Legacy)]
    public void TruncatedFilesAreRefusedNamingTheFile(ImatrixFormat format)
    {
        string path = _dir.File("full");
        ImatrixFile.Write(Sample(), path, format);
        var bytes = File.ReadAllBytes(path);
        string cut = _dir.File("cut");
        int step = Math.Max(1, bytes.Length / 97);
        for (int n = 0; n < bytes.Length; n += step)
        {
            // A legacy file cut exactly after its last entry is an older file without the trailer.
            if (format == ImatrixFormat.Legacy && n == LegacyEntriesEnd(bytes)) continue;
            File.WriteAllBytes(cut, bytes[..n]);
            var ex = Assert.Throws<InvalidDataException>(() => format == ImatrixFormat.Gguf ? ImatrixFile.ReadGguf(cut) : ImatrixFile.ReadLegacy(cut));
            Assert.Contains(cut, ex.Message);
        }
    }

    private static int LegacyEntriesEnd(byte[] b)
    {
        int pos = 0;
        int I32() { int v = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(pos)); pos += 4; return v; }
        int n = I32();
        for (int i = 0; i < n; i++)
        {
            int len = I32();
            pos += len;
            I32();
            int nval = I32();
            pos += 4 * nval;
        }
        return pos;
    }

    public static TheoryData<string, string> HostileLegacy => new()
    {
        { "zero entries", "00000000" },
        { "negative name length", "01000000 ffffffff" },
        { "huge name length", "01000000 ffffff7f" },
        { "huge entry count", "ffffff7f 01000000" },
        { "zero ncall", "01000000 01000000 61 00000000 01000000 0000803f" },
        { "negative value count", "01000000 01000000 61 01000000 feffffff" },
        { "values past the end", "01000000 01000000 61 01000000 10000000 0000803f" },
        { "NaN value", "01000000 01000000 61 01000000 01000000 0000c07f" },
        { "negative value", "01000000 01000000 61 01000000 01000000 000080bf" },
        { "invalid UTF-8 name", "01000000 01000000 ff 01000000 01000000 0000803f" },
        { "duplicate name", "02000000 01000000 61 01000000 01000000 0000803f 01000000 61 01000000 01000000 0000803f" },
        { "dataset length past the end", "01000000 01000000 61 01000000 01000000 0000803f 01000000 09000000 6162" },
        { "bytes after the dataset", "01000000 01000000 61 01000000 01000000 0000803f 01000000 01000000 61 00" },
        { "half a trailer", "01000000 01000000 61 01000000 01000000 0000803f 0100" },
    };

    [Theory]
    [MemberData(nameof(HostileLegacy))]
    public void HostileLegacyFilesGiveAClearError(string why, string hex)
    {
        string path = _dir.File("bad.dat");
        File.WriteAllBytes(path, Convert.FromHexString(hex.Replace(" ", "")));
        var ex = Assert.Throws<InvalidDataException>(() => ImatrixFile.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(why));
    }

    public static TheoryData<string, string> HostileGguf => new()
    {
        { "not an imatrix", "type" },
        { "missing datasets", "datasets" },
        { "chunk size zero", "chunksize" },
        { "chunk count of the wrong type", "chunkcount" },
        { "sums without counts", "nocounts" },
        { "counts without sums", "nosums" },
        { "F16 sums", "f16" },
        { "counts of the wrong length", "countlen" },
        { "negative sum", "negsum" },
        { "fractional count", "fraccount" },
        { "no tensors", "notensors" },
    };

    [Theory]
    [MemberData(nameof(HostileGguf))]
    public void HostileGgufImatrixFilesGiveAClearErrorNamingTheEntry(string why, string variant)
    {
        var md = new GgufMetadata();
        md.SetString("general.type", variant == "type" ? "model" : "imatrix");
        if (variant != "datasets") md.SetArray("imatrix.datasets", new[] { "x.txt" });
        if (variant == "chunkcount") md.SetInt32("imatrix.chunk_count", 1); else md.SetUInt32("imatrix.chunk_count", 1);
        md.SetUInt32("imatrix.chunk_size", variant == "chunksize" ? 0u : 512u);
        var w = new GgufWriter(md);
        if (variant != "notensors")
        {
            if (variant == "f16") w.AddTensor("w.in_sum2", GgmlType.F16, [4], new byte[8]);
            else if (variant != "nosums") w.AddTensor("w.in_sum2", [4], variant == "negsum" ? [1f, -2f, 3f, 4f] : [1f, 2f, 3f, 4f]);
            if (variant == "countlen") w.AddTensor("w.counts", [2, 1], [512f, 512f]);
            else if (variant != "nocounts") w.AddTensor("w.counts", [1], [variant == "fraccount" ? 511.5f : 512f]);
        }
        string path = _dir.File("bad.gguf");
        w.WriteFile(path);
        var ex = Assert.Throws<InvalidDataException>(() => ImatrixFile.Read(path));
        Assert.Contains(path, ex.Message);
        if (variant is "nocounts" or "nosums" or "f16" or "countlen" or "negsum" or "fraccount") Assert.Contains("'w'", ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(why));
    }

    [Fact]
    public void EntriesRejectImpossibleStatistics()
    {
        Assert.Throws<ArgumentException>(() => new ImportanceMatrixEntry("a", 2, [1f], [1]));
        Assert.Throws<ArgumentException>(() => new ImportanceMatrixEntry("a", 1, [float.PositiveInfinity], [1]));
        Assert.Throws<ArgumentException>(() => new ImportanceMatrixEntry("a", 1, [1f], [-1]));
        Assert.Throws<ArgumentException>(() => new ImportanceMatrix([new ImportanceMatrixEntry("a", 1, [1f], [1]), new ImportanceMatrixEntry("a", 1, [1f], [1])], 1, 512, []));
    }
}
