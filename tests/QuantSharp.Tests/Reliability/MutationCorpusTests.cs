// Replayed mutation corpus (issue 12): ≥ 10,000 deterministic mutations per binary format, each must give a result or the documented exception.
using System.Buffers.Binary;
using System.Diagnostics;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Formats.Imatrix;
using QuantSharp.Formats.Safetensors;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Tests.Gguf;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Reliability;

/// <summary>
/// Each test derives its inputs from one small valid file by seeded mutations (bit flips, interesting
/// integers written over length and offset fields, truncation, insertion, deletion, chunk copies),
/// so a failure is reproducible from its index. Readers may accept a mutated file (then everything it
/// serves is read once) or throw <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/>;
/// any other exception, or a run that takes too long, fails the test with the first offending inputs.
/// </summary>
public sealed class MutationCorpusTests(ITestOutputHelper output) : IDisposable
{
    private const int PerFormat = 10_000;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 7, 8, 31, 32, 255, 256, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 7, 16 << 20, 1 << 30,
    ];

    /// <summary>Mutation <paramref name="index"/> of <paramref name="seed"/> (deterministic).</summary>
    internal static byte[] Mutate(byte[] seed, int index)
    {
        var rng = new Random(index * 7919 + 17);
        var data = new List<byte>(seed);
        int steps = 1 + rng.Next(3);
        for (int s = 0; s < steps && data.Count > 0; s++)
        {
            int at = rng.Next(data.Count);
            switch (rng.Next(8))
            {
                case 0: data[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: data[at] = (byte)(rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x7F, _ => 0x80 }); break;
                case 2:
                case 3:
                {
                    // An interesting integer over a (probably) length/offset/count field; fields are 4 or 8 bytes.
                    ulong v = rng.Next(3) == 0 ? (ulong)(seed.Length + rng.Next(-64, 64)) : Interesting[rng.Next(Interesting.Length)];
                    int width = rng.Next(2) == 0 ? 4 : 8;
                    at = rng.Next(2) == 0 ? at & ~(width - 1) : at;
                    Span<byte> b = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(b, v);
                    for (int i = 0; i < width && at + i < data.Count; i++) data[at + i] = b[i];
                    break;
                }
                case 4: data.RemoveRange(at, data.Count - at); break; // truncate
                case 5: data.RemoveRange(at, Math.Min(data.Count - at, 1 + rng.Next(16))); break;
                case 6: data.InsertRange(at, Enumerable.Range(0, 1 + rng.Next(16)).Select(_ => (byte)rng.Next(256))); break;
                default:
                {
                    int from = rng.Next(data.Count), len = Math.Min(data.Count - from, 1 + rng.Next(64));
                    var chunk = data.GetRange(from, len);
                    int to = rng.Next(data.Count);
                    for (int i = 0; i < len && to + i < data.Count; i++) data[to + i] = chunk[i];
                    break;
                }
            }
        }
        return data.ToArray();
    }

    private void Replay(string name, byte[] seed, int count, Action<string> read)
    {
        string path = _dir.File(name);
        var failures = new List<string>();
        int accepted = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            File.WriteAllBytes(path, Mutate(seed, i));
            try
            {
                read(path);
                accepted++;
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException) { }
            catch (Exception e)
            {
                if (failures.Count < 5) failures.Add($"mutation {i}: {e.GetType().Name}: {e.Message}\n{e.StackTrace?.Split('\n').FirstOrDefault()}");
                else if (failures.Count == 5) failures.Add("…");
            }
        }
        output.WriteLine($"{name}: {count} mutations in {sw.Elapsed.TotalSeconds:F1} s, {accepted} accepted");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(40), $"{name}: {count} mutations took {sw.Elapsed}");
    }

    private static byte[] GgufSeed(string path)
    {
        var m = GgufSamples.AllValueTypes();
        m.SetString("general.architecture", "llama");
        m.SetArray("tokenizer.ggml.tokens", Enumerable.Range(0, 40).Select(i => $"tok{i}").ToArray());
        var w = new GgufWriter(m);
        var rows = Enumerable.Range(0, 256).Select(i => MathF.Sin(i) * 0.1f).ToArray();
        w.AddTensor("f32", [2, 8], rows[..16]);
        w.AddTensor("f16", GgmlType.F16, [16], new byte[32]);
        var q8 = new byte[2 * 34];
        BlockQuantizer.QuantizeRows(DType.Q8_0, rows[..64], 64, q8);
        w.AddTensor("q8", GgmlType.Q8_0, [64], q8);
        var q4k = new byte[144];
        BlockQuantizer.QuantizeRows(DType.Q4_K, rows, 256, q4k);
        w.AddTensor("q4k", GgmlType.Q4_K, [256], q4k);
        w.WriteFile(path);
        return File.ReadAllBytes(path);
    }

    private static void ReadEverything(GgufFile f)
    {
        foreach (var (key, value) in f.Metadata.Entries) _ = key.Length + value.ToString()!.Length;
        foreach (var t in f.Tensors)
        {
            var core = GgmlTypeInfo.Of(t.Type).CoreType;
            if (core is { } d && !DTypeInfo.IsBlockQuantized(d)) FiniteCheck.FirstNonFinite(f.Get(t.Name));
            else if (core is { } q) BlockScaleCheck.FirstNonFinite(q, f.GetRawBytes(t.Name));
            else _ = f.GetRawBytes(t.Name).Length;
        }
        _ = GgufBitsPerWeight.Of(f);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void GgufMutations()
    {
        var seed = GgufSeed(_dir.File("seed.gguf"));
        Replay("m.gguf", seed, PerFormat, p => { using var f = new GgufFile(p); ReadEverything(f); });
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void SafetensorsMutations()
    {
        var w = new SafetensorsWriter();
        w.Metadata["format"] = "pt";
        // Real weights: the first values of a shared model tensor.
        using (var real = new SafetensorsFile(SharedData.Model("sotu-llama-30m", "model-00005-of-00005.safetensors")))
        {
            var t = real.Get(real.TensorNames[0]);
            int bytes = 64 * DTypeInfo.SizeOf(t.DType);
            unsafe { w.AddTensor("model.layers.0.mlp.up_proj.weight", t.DType, [8, 8], new ReadOnlySpan<byte>(t.Pointer, bytes).ToArray()); }
        }
        w.AddTensor("model.norm.weight", DType.F32, [4], new byte[16]);
        w.AddTensor("empty", DType.F16, [0, 3], Array.Empty<byte>());
        w.AddTensor("ids", DType.I64, [2], new byte[16]);
        w.WriteFile(_dir.File("seed.safetensors"));
        var seed = File.ReadAllBytes(_dir.File("seed.safetensors"));
        Replay("m.safetensors", seed, PerFormat, p =>
        {
            using var f = new SafetensorsFile(p);
            foreach (var n in f.TensorNames) FiniteCheck.FirstNonFinite(f.Get(n));
            _ = f.Metadata.Count;
        });
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void ImatrixMutations()
    {
        var m = new ImportanceMatrix(
        [
            new ImportanceMatrixEntry("blk.0.attn_q.weight", 8, [1, 2, 3, 4, 5, 6, 7, 8], [16]),
            new ImportanceMatrixEntry("blk.0.ffn_down.weight", 4, [0.5f, 0, 2, 9, 1, 1, 1, 1], [3, 5]),
        ], 2, 512, ["wiki.train"]);
        ImatrixFile.WriteGguf(m, _dir.File("seed.imatrix.gguf"));
        ImatrixFile.WriteLegacy(new ImportanceMatrix([m.Entries[0]], 2, 512, ["wiki.train"]), _dir.File("seed.dat"));
        Replay("m.imatrix.gguf", File.ReadAllBytes(_dir.File("seed.imatrix.gguf")), PerFormat / 2, p => _ = ImatrixFile.Read(p).Entries.Count);
        Replay("m.dat", File.ReadAllBytes(_dir.File("seed.dat")), PerFormat / 2, p => _ = ImatrixFile.Read(p).Entries.Count);
    }
}
