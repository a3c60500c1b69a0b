// Our imatrix files and collection against llama.cpp b8390: ggml's GGUF reader and writer, and llama-imatrix's eval-callback collection.
using System.Runtime.CompilerServices;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Imatrix;
using QuantSharp.LlamaCpp;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Tests.Gguf;
using QuantSharp.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Oracle;

[Collection(OracleCollection.Name)]
[Trait("Category", "Oracle")]
public sealed unsafe class ImatrixOracleTests(ConvertedModels models, ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ImportanceMatrix Synthetic()
    {
        var rng = new Random(11);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 50)).ToArray();
        return new ImportanceMatrix(
        [
            new ImportanceMatrixEntry("blk.0.attn_k.weight", 512, Values(512), [5120]),
            new ImportanceMatrixEntry("blk.0.ffn_down.weight", 1536, Values(1536), [5120]),
            new ImportanceMatrixEntry("blk.3.ffn_gate_exps.weight", 64, Values(4 * 64), [100, 0, 3000, 2020]),
            new ImportanceMatrixEntry("output.weight", 512, Values(512), [5120]),
        ], chunkCount: 10, chunkSize: 512, datasets: ["../shared/data/sotu/train-1790-2009.txt"]);
    }

    [OracleFact]
    public void GgmlTensorStructHasB8390sLayout()
    {
        LlamaCppLibrary.EnsureLoaded();
        Assert.Equal(336, Unsafe.SizeOf<GgmlTensorStruct>());
        Assert.Equal(336u + 32u, (uint)GgufNative.TensorOverhead());
        IntPtr ctx = GgufNative.GgmlInit(4096);
        try
        {
            var t = GgufNative.NewTensor2D(ctx, GgmlTensorStruct.TypeF32, 7, 3);
            GgufNative.SetName(t, "blk.9.attn_q.weight");
            Assert.Equal((0, 7L, 3L, 1L, 1L), (t->Type, t->Ne[0], t->Ne[1], t->Ne[2], t->Ne[3]));
            Assert.Equal((4UL, 28UL, 84UL), (t->Nb[0], t->Nb[1], t->Nb[2]));
            Assert.Equal((0, 0UL), (t->Op, t->Src[0]));
            Assert.NotEqual(IntPtr.Zero, t->Data);
            Assert.Equal("blk.9.attn_q.weight", t->NameString);
        }
        finally { GgufNative.GgmlFree(ctx); }
    }

    // (a) ggml's reader (what llama-quantize --imatrix calls) sees our file's keys, tensors and values.
    [OracleFact]
    public void OurGgufImatrixIsReadByGgmlWithTheSameKeysTensorsAndValues()
    {
        var m = Synthetic();
        string path = _dir.File("ours.gguf");
        ImatrixFile.WriteGguf(m, path);
        var view = LlamaCppImatrix.ReadWithGgml(path) ?? throw new InvalidOperationException($"ggml refused {path}: {LlamaCppLibrary.RecentLog}");
        Assert.Equal(["general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"], view.Metadata.Select(k => k.Key));
        Assert.Equal((GgufNative.GgufTypeString, (object)"imatrix"), (view.Metadata[0].Type, view.Metadata[0].Value));
        Assert.Equal(GgufNative.GgufTypeArray, view.Metadata[1].Type);
        Assert.Equal(m.Datasets, (string[])view.Metadata[1].Value);
        Assert.Equal((GgufNative.GgufTypeUInt32, (object)10u), (view.Metadata[2].Type, view.Metadata[2].Value));
        Assert.Equal((GgufNative.GgufTypeUInt32, (object)512u), (view.Metadata[3].Type, view.Metadata[3].Value));
        Assert.Equal(2 * m.Entries.Count, view.Tensors.Count);
        for (int i = 0; i < m.Entries.Count; i++)
        {
            var e = m.Entries[i];
            var s = view.Tensors[2 * i];
            var c = view.Tensors[2 * i + 1];
            Assert.Equal((e.Name + ".in_sum2", 0, e.Columns, (long)e.MatrixCount), (s.Name, s.Type, s.Ne[0], s.Ne[1]));
            Assert.Equal((e.Name + ".counts", 0, 1L, (long)e.MatrixCount), (c.Name, c.Type, c.Ne[0], c.Ne[1]));
            Assert.Equal(e.SumOfSquares, s.Data);
            Assert.Equal(e.Counts.Select(x => (float)x), c.Data);
        }
    }

    // llama-imatrix's save_imatrix through ggml's gguf writer and our writer give the same bytes; ours reads ggml's file back.
    [OracleFact]
    public void OurGgufImatrixIsByteIdenticalToWhatLlamaImatrixWritesThroughGgml()
    {
        var m = Synthetic();
        string ours = _dir.File("ours.gguf"), theirs = _dir.File("ggml.gguf");
        ImatrixFile.WriteGguf(m, ours);
        LlamaCppImatrix.WriteGguf(theirs, m.Entries.ToDictionary(e => e.Name, e => (e.SumOfSquares, e.Counts)), m.ChunkCount, m.ChunkSize, m.Datasets);
        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
        var back = ImatrixFile.Read(theirs);
        Assert.Equal(m.Entries.Select(e => e.Name), back.Entries.Select(e => e.Name));
        foreach (var e in m.Entries) Assert.Equal(e.SumOfSquares, back[e.Name].SumOfSquares);
    }

    // (b) The same text through llama-imatrix's collection (eval callback on llama.cpp) and ours.
    // With an F32 KV cache and no flash attention llama.cpp computes attention in fp32 as we do, and the
    // per-column means agree to float summation noise (measured: mean 6.5e-7, max 5.7e-6 relative);
    // with llama-imatrix's defaults (F16 cache, flash attention) its attention outputs carry fp16
    // rounding (measured: mean 2.2e-5, max 3.4e-4). Tolerances: 2e-5 and 1e-3.
    [OracleFact]
    [Trait("Category", "RealModel")]
    public void CollectionOnSotuAgreesWithLlamaImatrix()
    {
        const int nCtx = 512, chunks = 4;
        string text = CalibrationText(chunks);
        using var ours = LlamaModel.Load(models.SotuGguf);
        using var cpp = LlamaCppModel.Load(models.SotuGguf);
        var (tokens, bos) = ImatrixCalibration.Tokenize(ours, text);
        // common_tokenize(ctx, prompt, add_special = true, parse_special = false) on the -f text (one trailing newline dropped).
        int[] cppTokens = cpp.Tokenize(text.EndsWith('\n') ? text[..^1] : text, addSpecial: true, parseSpecial: false);
        Assert.Equal(cppTokens, tokens);

        var options = new ImatrixOptions { ContextLength = nCtx, MaxChunks = chunks, Datasets = ["calib.txt"] };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var mine = ImatrixCalibration.Collect(ours, tokens, bos, options);
        double ourSeconds = clock.Elapsed.TotalSeconds;
        int threads = Core.Kernels.KernelOptions.EffectiveThreads;
        var exact = LlamaCppImatrix.Collect(cpp, cppTokens, nCtx, chunks, processOutput: false, threads, exactAttention: true);
        var defaults = LlamaCppImatrix.Collect(cpp, cppTokens, nCtx, chunks, processOutput: false, threads);
        output.WriteLine($"{chunks} chunks of {nCtx}, {threads} threads: ours {ourSeconds:F2} s; llama.cpp decode with eval callback {exact.Seconds:F2} s (F32 cache, no FA), {defaults.Seconds:F2} s (defaults)");

        foreach (var (collected, tolerance, label) in new[] { (exact, 2e-5, "F32 cache, no flash attention"), (defaults, 1e-3, "llama-imatrix defaults") })
        {
            // Through ggml's writer in llama-imatrix's layout, then our reader.
            string path = _dir.File($"llama-imatrix-{tolerance}.gguf");
            LlamaCppImatrix.WriteGguf(path, collected.Entries, collected.ChunkCount, collected.ChunkSize, ["calib.txt"]);
            var theirs = ImatrixFile.Read(path);

            // Every linear weight of every layer (the classifier is tied, so never collected), same counts and chunks.
            Assert.Equal(8 * 7, theirs.Entries.Count);
            Assert.Equal(theirs.Entries.Select(e => e.Name), mine.Entries.Select(e => e.Name));
            Assert.Equal((chunks, nCtx), (theirs.ChunkCount, theirs.ChunkSize));
            Assert.Equal((chunks, nCtx), (mine.ChunkCount, mine.ChunkSize));
            var (mean, worst, worstAt) = RelativeDifference(mine, theirs);
            output.WriteLine($"{label}: per-column relative difference mean {mean:E2}, max {worst:E2} at {worstAt}");
            Assert.True(worst <= tolerance, $"{label}: max relative difference {worst:E2} at {worstAt}");
        }

        // Q4_K with importance flips a block's bytes on relative changes of ~1e-6 (fp16 scales, rounding
        // of each weight), so bytes are compared against a control: llama.cpp's own activations summed
        // in double instead of float. Ours must differ from llama.cpp no more than that control does,
        // and quantize as well by llama.cpp's own weighted error.
        var reference = ImatrixFile.Read(_dir.File("llama-imatrix-2E-05.gguf")).ToQuantizerImportance();
        var a = mine.ToQuantizerImportance();
        var control = exact.DoubleSums.ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (float)(v / exact.Entries[kv.Key].Counts[0])).ToArray());
        using var weights = new QuantSharp.Formats.Gguf.GgufFile(models.SotuGguf);
        long blocks = 0, sameOurs = 0, sameControl = 0;
        foreach (var name in new[] { "blk.0.ffn_down.weight", "blk.0.attn_q.weight", "blk.7.ffn_up.weight" })
        {
            var w = weights.Get(name);
            var values = w.ToFloat32();
            int cols = (int)w.Columns;
            var qRef = QuantizeQ4K(values, cols, reference[name]);
            var qOurs = QuantizeQ4K(values, cols, a[name]);
            var qControl = QuantizeQ4K(values, cols, control[name]);
            long n = qRef.Length / 144, so = SameBlocks(qRef, qOurs), sc = SameBlocks(qRef, qControl);
            double errRef = WeightedError(values, cols, qRef, reference[name]), errOurs = WeightedError(values, cols, qOurs, reference[name]);
            output.WriteLine($"{name} Q4_K vs llama.cpp's imatrix: ours {so}/{n} blocks identical ({(double)so / n:P2}), control {sc}/{n} ({(double)sc / n:P2}); weighted error ratio ours/llama.cpp {errOurs / errRef:F6}");
            Assert.True(Math.Abs(errOurs / errRef - 1) <= 1e-4, $"{name}: weighted Q4_K error with our imatrix is {errOurs / errRef:F6} × llama.cpp's");
            blocks += n;
            sameOurs += so;
            sameControl += sc;
        }
        Assert.True(sameOurs >= sameControl - 0.005 * blocks, $"{sameOurs}/{blocks} identical Q4_K blocks, control {sameControl}/{blocks}");
        Assert.True(sameOurs >= 0.97 * blocks, $"only {sameOurs}/{blocks} identical Q4_K blocks");
    }

    // stories260K's vocabulary adds BOS: llama-imatrix writes it over every chunk's first token, and so must we.
    [OracleFact]
    [Trait("Category", "RealModel")]
    public void CollectionOnStoriesWithBosPerChunkAgreesWithLlamaImatrix()
    {
        const int nCtx = 256, chunks = 6;
        string text = File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt"));
        using var ours = LlamaModel.Load(models.StoriesGguf);
        using var cpp = LlamaCppModel.Load(models.StoriesGguf);
        var (tokens, bos) = ImatrixCalibration.Tokenize(ours, text);
        Assert.Equal(cpp.BosToken, bos);
        Assert.Equal(cpp.Tokenize(text.EndsWith('\n') ? text[..^1] : text, addSpecial: true, parseSpecial: false), tokens);
        var mine = ImatrixCalibration.Collect(ours, tokens, bos, new ImatrixOptions { ContextLength = nCtx, MaxChunks = chunks });
        var collected = LlamaCppImatrix.Collect(cpp, tokens, nCtx, chunks, processOutput: false, threads: 2, exactAttention: true);
        string path = _dir.File("stories.gguf");
        LlamaCppImatrix.WriteGguf(path, collected.Entries, collected.ChunkCount, collected.ChunkSize, []);
        var theirs = ImatrixFile.Read(path);
        Assert.Equal(5 * 7, theirs.Entries.Count);
        Assert.Equal(theirs.Entries.Select(e => e.Name), mine.Entries.Select(e => e.Name));
        var (mean, worst, at) = RelativeDifference(mine, theirs);
        output.WriteLine($"stories260K, {chunks} chunks of {nCtx}, BOS {bos}: per-column relative difference mean {mean:E2}, max {worst:E2} at {at}");
        Assert.True(worst <= 2e-5, $"max relative difference {worst:E2} at {at}");
    }

    private static (double Mean, double Max, string At) RelativeDifference(ImportanceMatrix mine, ImportanceMatrix theirs)
    {
        // Per column, |ours − theirs| relative to theirs; columns below 1e-3 of the entry's mean are judged against that floor.
        var a = mine.ToQuantizerImportance();
        var b = theirs.ToQuantizerImportance();
        double worst = 0, sum = 0;
        long n = 0;
        string at = "";
        foreach (var e in theirs.Entries)
        {
            Assert.Equal(e.Counts, mine[e.Name].Counts);
            var x = a[e.Name];
            var y = b[e.Name];
            double floor = 1e-3 * y.Average(v => (double)v);
            for (int j = 0; j < y.Length; j++)
            {
                double rel = Math.Abs(x[j] - y[j]) / Math.Max(y[j], floor);
                sum += rel;
                n++;
                if (rel > worst) { worst = rel; at = $"{e.Name}[{j}] ours {x[j]} llama.cpp {y[j]}"; }
            }
        }
        return (sum / n, worst, at);
    }

    private static byte[] QuantizeQ4K(float[] values, int cols, float[] importance)
    {
        var q = new byte[values.Length / 256 * 144];
        BlockQuantizer.QuantizeRows(DType.Q4_K, values, cols, q, importance);
        return q;
    }

    private static long SameBlocks(byte[] x, byte[] y)
    {
        long same = 0;
        for (int k = 0; k < x.Length / 144; k++)
            if (x.AsSpan(k * 144, 144).SequenceEqual(y.AsSpan(k * 144, 144))) same++;
        return same;
    }

    // Σ over rows and columns of importance_j (w − ŵ)², the error the importance-weighted quantizer minimises.
    private static double WeightedError(float[] values, int cols, byte[] q, float[] importance)
    {
        var row = new float[cols];
        int rowBytes = cols / 256 * 144;
        double err = 0;
        for (int r = 0; r < values.Length / cols; r++)
        {
            Core.Kernels.BlockDequantizer.DequantizeRow(DType.Q4_K, q.AsSpan(r * rowBytes, rowBytes), row);
            for (int j = 0; j < cols; j++)
            {
                double d = values[r * cols + j] - row[j];
                err += importance[j] * d * d;
            }
        }
        return err;
    }

    /// <summary>The first part of the sotu training text, enough for <paramref name="chunks"/> chunks of 512 and a margin.</summary>
    internal static string CalibrationText(int chunks)
    {
        string all = File.ReadAllText(SharedData.DataFile("sotu", "train-1790-2009.txt"));
        return all[..Math.Min(all.Length, Math.Max(2, chunks + 1) * 512 * 6)];
    }
}
