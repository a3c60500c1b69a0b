// TokenizerLoader: picking the implementation, and clear errors naming the file for missing, malformed or hostile input.
using System.Buffers.Binary;
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

public sealed class TokenizerLoaderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "quantsharp-tokload-" + Guid.NewGuid().ToString("N"));

    public TokenizerLoaderTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WriteText(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

    private static void AssertBadFile(string path, Action load)
    {
        var e = Assert.Throws<InvalidDataException>(load);
        Assert.Contains(path, e.Message);
    }

    // A tiny valid llama2.c tokenizer file: <unk>, BOS, EOS, then the given pieces.
    private static byte[] Llama2cFile(int maxLength, params (float Score, int Length, byte[] Bytes)[] tokens)
    {
        var data = new List<byte>();
        var buffer = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, maxLength);
        data.AddRange(buffer);
        foreach (var (score, length, bytes) in tokens)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, score);
            data.AddRange(buffer);
            BinaryPrimitives.WriteInt32LittleEndian(buffer, length);
            data.AddRange(buffer);
            data.AddRange(bytes);
        }
        return data.ToArray();
    }

    [Fact]
    public void SmallLlama2cFileLoads()
    {
        string path = Write("tok.bin", Llama2cFile(5, (0, 5, "<unk>"u8.ToArray()), (0, 3, "<s>"u8.ToArray()), (0, 4, "</s>"u8.ToArray()), (0, 1, " "u8.ToArray())));
        var tok = Assert.IsType<Llama2cTokenizer>(TokenizerLoader.Load(path));
        Assert.Equal(4, tok.VocabSize);
    }

    [Fact]
    public void Llama2cTruncatedHeader() { string p = Write("tok.bin", [7, 0]); AssertBadFile(p, () => TokenizerLoader.Load(p)); }

    [Fact]
    public void Llama2cNegativeLength()
    {
        string p = Write("tok.bin", Llama2cFile(5, (0, 5, "<unk>"u8.ToArray()), (0, -5, [])));
        AssertBadFile(p, () => TokenizerLoader.Load(p));
    }

    [Fact]
    public void Llama2cLengthBeyondMaxTokenLength()
    {
        string p = Write("tok.bin", Llama2cFile(5, (0, 1_000_000, [])));
        AssertBadFile(p, () => TokenizerLoader.Load(p));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void Llama2cAbsurdMaxTokenLength(int maxLength)
    {
        string p = Write("tok.bin", Llama2cFile(maxLength, (0, 5, "<unk>"u8.ToArray())));
        AssertBadFile(p, () => TokenizerLoader.Load(p));
    }

    [Fact]
    public void Llama2cTooFewTokensForAKnownVocabSize()
    {
        string p = Write("tok.bin", Llama2cFile(5, (0, 5, "<unk>"u8.ToArray()), (0, 3, "<s>"u8.ToArray()), (0, 4, "</s>"u8.ToArray())));
        AssertBadFile(p, () => TokenizerLoader.Load(p, llama2cVocabSize: 512));
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("")]
    [InlineData("[1, 2, 3]")]
    [InlineData("{\"model\": 5}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 2000000000}, \"merges\": []}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [5]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}")]
    [InlineData("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": \"zero\", \"content\": \"x\"}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"MergedWithPrevious\"}}")]
    public void MalformedOrUnsupportedTokenizerJson(string json)
    {
        string p = WriteText("tokenizer.json", json);
        AssertBadFile(p, () => TokenizerLoader.Load(p));
        AssertBadFile(p, () => TokenizerLoader.Load(_folder));
    }

    [Fact]
    public void FolderWithoutTokenizer()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(_folder));
        Assert.Contains(_folder, e.Message);
        Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(Path.Combine(_folder, "missing.bin")));
    }

    [Fact]
    public void UnknownExtension()
    {
        string p = WriteText("vocab.txt", "a\nb\n");
        AssertBadFile(p, () => TokenizerLoader.Load(p));
    }

    [Fact]
    public void MalformedTokenizerConfigBesideTheJson()
    {
        WriteText("tokenizer.json", SyntheticTokenizerJson.Build());
        string config = WriteText("tokenizer_config.json", "{ broken");
        AssertBadFile(config, () => TokenizerLoader.Load(_folder));
    }

    [Fact]
    [Trait("Category", "RealModel")]
    public void TruncatedRealTok512()
    {
        byte[] real = File.ReadAllBytes(SharedData.Model("stories260K", "tok512.bin"));
        foreach (int length in new[] { 3, 10, real.Length / 2, real.Length - 1 })
        {
            string p = Write("tok512.bin", real[..length]);
            AssertBadFile(p, () => TokenizerLoader.Load(p));
        }
        // Whole file, but the model claims more tokens than it holds.
        string full = Write("tok512.bin", real);
        AssertBadFile(full, () => TokenizerLoader.Load(full, llama2cVocabSize: 513));
    }

    [Fact]
    [Trait("Category", "RealModel")]
    public void PicksTheRealImplementations()
    {
        Assert.IsType<ByteLevelBpeTokenizer>(TokenizerLoader.Load(SharedData.Model("sotu-llama-30m")));
        Assert.IsType<ByteLevelBpeTokenizer>(TokenizerLoader.Load(SharedData.Model("sotu-llama-30m", "tokenizer.json")));
        var l2c = Assert.IsType<Llama2cTokenizer>(TokenizerLoader.Load(SharedData.Model("stories260K", "tok512.bin"), llama2cVocabSize: 512));
        Assert.Equal(512, l2c.VocabSize);
    }
}
