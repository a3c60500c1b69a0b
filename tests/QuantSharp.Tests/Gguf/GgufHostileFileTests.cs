// Broken and malicious GGUF files must fail with InvalidDataException, quickly and without huge allocations.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Gguf;

public sealed class GgufHostileFileTests
{
    private static InvalidDataException Rejects(string path, params string[] mustMention)
    {
        var e = Assert.Throws<InvalidDataException>(() => { using var _ = new GgufFile(path); });
        Assert.Contains(path, e.Message);
        foreach (var s in mustMention) Assert.Contains(s, e.Message);
        return e;
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_is_rejected()
    {
        using var dir = new TempDirectory();
        var full = dir.File("full.gguf");
        GgufSamples.WriteSmall(full);
        var bytes = File.ReadAllBytes(full);
        using (var ok = new GgufFile(full)) Assert.Equal(2, ok.Tensors.Count);

        var cut = dir.File("cut.gguf");
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int len = 0; len < bytes.Length; len++)
        {
            File.WriteAllBytes(cut, bytes[..len]);
            Exception? caught = null;
            try { using var f = new GgufFile(cut); }
            catch (Exception e) { caught = e; }
            Assert.True(caught is InvalidDataException, $"length {len}: expected InvalidDataException, got {caught?.GetType().Name ?? "no exception"}: {caught?.Message}");
        }
        // A few KB per attempt at most: nothing sized from a corrupt length gets allocated.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < bytes.Length * 64L * 1024, "excessive allocation while parsing truncated files");
    }

    [Fact]
    public void Bad_magic()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(magic: 0x46554746).Save(dir), "magic");
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(0x03000000u)]
    public void Unsupported_version(uint version)
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(version: version).Save(dir), "version");
    }

    [Fact]
    public void Version_2_is_read()
    {
        using var dir = new TempDirectory();
        using var f = new GgufFile(new RawGguf().Header(version: 2, kvs: 1).KvU32("k", 5).Save(dir));
        Assert.Equal(2, f.Version);
        Assert.Equal(5u, f.Metadata.GetUInt32("k"));
    }

    [Theory]
    [InlineData(1UL << 40, 0UL)]
    [InlineData(0UL, 1UL << 40)]
    [InlineData(ulong.MaxValue, ulong.MaxValue)]
    [InlineData(1000UL, 0UL)]
    public void Absurd_counts_are_rejected_before_allocation(ulong tensors, ulong kvs)
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(tensors: tensors, kvs: kvs).Zeros(64).Save(dir), "cannot fit");
    }

    [Fact]
    public void Huge_string_length()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 1).U64(ulong.MaxValue - 3).Zeros(32).Save(dir), "claims");
    }

    [Fact]
    public void Huge_array_length()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 1).Str("arr").U32(9).U32(4).U64(1UL << 60).Zeros(32).Save(dir), "'arr'", "claims");
    }

    [Fact]
    public void Unknown_value_type()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 1).Str("k").U32(13).U32(0).Save(dir), "'k'", "unknown value type 13");
    }

    [Fact]
    public void Invalid_bool()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 1).Str("flag").U32(7).U8(2).Save(dir), "'flag'", "bool");
    }

    [Fact]
    public void Duplicate_key()
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 2).KvU32("k", 1).KvU32("k", 2).Save(dir), "'k'", "twice");
    }

    [Fact]
    public void Deeply_nested_arrays()
    {
        using var dir = new TempDirectory();
        var raw = new RawGguf().Header(kvs: 1).Str("deep").U32(9);
        for (int i = 0; i < 100; i++) raw.U32(9).U64(1);
        Rejects(raw.U32(4).U64(0).Save(dir), "nested");
    }

    [Theory]
    [InlineData(48u, 4u, "power of two")]
    [InlineData(0u, 4u, "power of two")]
    [InlineData(32u, 5u, "UInt32")]
    public void Bad_alignment(uint value, uint type, string expected)
    {
        using var dir = new TempDirectory();
        Rejects(new RawGguf().Header(kvs: 1).KvU32("general.alignment", value, type).Save(dir), "general.alignment", expected);
    }

    private static string OneTensor(TempDirectory dir, uint type, ulong offset, ulong[] ne, int dataBytes)
        => new RawGguf().Header(tensors: 1).Tensor("t", type, offset, ne).PadTo(32).Zeros(dataBytes).Save(dir);

    [Fact]
    public void Tensor_past_end_of_file()
    {
        using var dir = new TempDirectory();
        Rejects(OneTensor(dir, 0, 0, [16], 63), "'t'", "past the end");
        Rejects(OneTensor(dir, 0, 1UL << 62, [16], 64), "'t'", "past the end");
        Rejects(OneTensor(dir, 0, 0, [1UL << 40, 1UL << 20], 64), "'t'");
    }

    [Theory]
    [InlineData(4u)]
    [InlineData(31u)]
    [InlineData(41u)]
    [InlineData(uint.MaxValue)]
    public void Unknown_tensor_type(uint type)
    {
        using var dir = new TempDirectory();
        Rejects(OneTensor(dir, type, 0, [32], 128), "'t'", $"unknown ggml type id {type}");
    }

    [Fact]
    public void Bad_dimensions()
    {
        using var dir = new TempDirectory();
        Rejects(OneTensor(dir, 0, 0, [1, 1, 1, 1, 1], 64), "'t'", "5 dimensions");
        Rejects(OneTensor(dir, 0, 0, [4, 0], 64), "'t'", "dimension 1");
        Rejects(OneTensor(dir, 0, 0, [ulong.MaxValue], 64), "'t'", "dimension 0");
        Rejects(OneTensor(dir, 0, 0, [1UL << 32, 1UL << 32, 1UL << 32], 64), "'t'", "overflow");
        Rejects(OneTensor(dir, 2, 0, [33], 64), "'t'", "block size 32");
    }

    [Fact]
    public void Misaligned_and_overlapping_tensors()
    {
        using var dir = new TempDirectory();
        Rejects(OneTensor(dir, 0, 4, [4], 64), "'t'", "alignment");
        var overlap = new RawGguf().Header(tensors: 2)
            .Tensor("a", 0, 0, [16]).Tensor("b", 0, 32, [16]).PadTo(32).Zeros(128).Save(dir);
        Rejects(overlap, "overlaps");
        var dup = new RawGguf().Header(tensors: 2)
            .Tensor("a", 0, 0, [8]).Tensor("a", 0, 32, [8]).PadTo(32).Zeros(128).Save(dir, "dup.gguf");
        Rejects(dup, "'a'", "twice");
    }
}
