// Real Qwen3, Llama-3 and Gemma-3 tokenizers: our ids against llama.cpp's on a GGUF carrying the same vocabulary.
using System.Text;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.LlamaCpp;
using QuantSharp.Tests.Gguf;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// For each family: the tokenizer.json is loaded (HF semantics), turned into tokenizer.ggml.* metadata
/// and written to a vocabulary-only GGUF; llama.cpp b8390 loads that GGUF with vocab_only, and our
/// GGUF-side tokenizer is rebuilt from the metadata read back. All three must give the same ids on
/// slices of the shared corpora and on <see cref="UnicodeStressText"/>.
/// </summary>
/// <remarks>
/// One deliberate exception: Qwen's tokenizer.json normalizes to NFC, llama.cpp (and so the GGUF)
/// does not, so on text that NFC changes the tokenizer.json side is compared with llama.cpp on the
/// NFC form of the text.
/// </remarks>
[Trait("Category", "Oracle")]
public sealed class RealTokenizerOracleTests(RealTokenizerOracleTests.Families families) : IClassFixture<RealTokenizerOracleTests.Families>
{
    // Slices keep each test at a few seconds; cut at a line end so no character is split.
    private const int SliceChars = 100_000;

    public static TheoryData<string> FamilyNames => new(RealTokenizerFiles.Families);

    private static readonly Lazy<(string Name, string Text)[]> Corpora = new(() =>
    [
        ("sotu", Slice(File.ReadAllText(SharedData.DataFile("sotu", "test-2010-on.txt")))),
        ("wikitext", Slice(File.ReadAllText(SharedData.DataFile("wikitext-2-raw", "wiki.test.raw")))),
        ("tinystories", File.ReadAllText(SharedData.DataFile("tinystories", "valid-sample.txt"))),
        ("stress", UnicodeStressText.Text),
    ]);

    private static string Slice(string text)
    {
        if (text.Length <= SliceChars) return text;
        int end = text.LastIndexOf('\n', SliceChars - 1);
        return text[..(end > 0 ? end + 1 : SliceChars)];
    }

    [TokenizerOracleTheory]
    [MemberData(nameof(FamilyNames))]
    public void Corpora_and_stress_text_give_llama_cpps_ids_from_tokenizer_json_and_from_gguf(string family)
    {
        var f = families.Get(family);
        foreach (var (name, text) in Corpora.Value)
        {
            int[] cpp = f.Cpp.Tokenize(text, addSpecial: false, parseSpecial: true);
            AssertSameIds(cpp, f.FromGguf.Encode(text), f, $"{family} {name}: GGUF-built tokenizer vs llama.cpp");

            // HF normalizes before tokenizing; llama.cpp does not, so it is given the normalized text.
            // Texts llama.cpp turns into control tokens are broken up (see Known_differences_...).
            string forJson = BreakPromotedTexts(text, f.Data);
            string normalized = f.NormalizesToNfc ? UnicodeNfc.Normalize(forJson) : forJson;
            int[] cppOnNormalized = ReferenceEquals(normalized, text) ? cpp : f.Cpp.Tokenize(normalized, addSpecial: false, parseSpecial: true);
            AssertSameIds(cppOnNormalized, f.FromJson.Encode(forJson), f, $"{family} {name}: tokenizer.json vs llama.cpp");
        }
    }

    [TokenizerOracleTheory]
    [MemberData(nameof(FamilyNames))]
    public void Decoding_round_trips(string family)
    {
        var f = families.Get(family);
        foreach (var (name, text) in Corpora.Value)
        {
            string expected = f.NormalizesToNfc ? UnicodeNfc.Normalize(text) : text;
            Assert.True(expected == f.FromJson.Decode(f.FromJson.Encode(text)), $"{family} {name}: tokenizer.json decode(encode(text)) differs from the text");
            Assert.True(text == f.FromGguf.Decode(f.FromGguf.Encode(text)), $"{family} {name}: GGUF decode(encode(text)) differs from the text");
        }
    }

    [TokenizerOracleTheory]
    [InlineData("qwen3", false, 151643, 151645)] // bos from the <|endoftext|> fallback (tokenizer_config has none), eos <|im_end|>
    [InlineData("llama3", false, 128000, 128001)] // this tokenizer.json's post-processor adds no BOS
    [InlineData("gemma3", true, 2, 106)] // <bos>, <end_of_turn>; add_bos_token true
    public void Bos_eos_and_add_bos_agree_with_the_files_and_llama_cpp(string family, bool addBos, int bos, int eos)
    {
        var f = families.Get(family);
        Assert.Equal((addBos, (int?)bos, (int?)eos), (f.Data.AddBos, f.FromJson.BosId, f.FromJson.EosId));
        Assert.Equal((bos, eos), (f.Cpp.BosToken, f.Cpp.EosToken));
        Assert.Equal(f.FromJson.VocabSize, f.Cpp.VocabSize);
        Assert.Equal((f.FromJson.BosId, f.FromJson.EosId, f.FromJson.VocabSize), (f.FromGguf.BosId, f.FromGguf.EosId, f.FromGguf.VocabSize));

        const string text = "Hello world, it's a test.";
        int[] cpp = f.Cpp.Tokenize(text, addSpecial: true, parseSpecial: true);
        Assert.Equal(addBos, cpp.Length > 0 && cpp[0] == bos);
        Assert.Equal(cpp, f.FromJson.Encode(text, addBos: f.Data.AddBos));
        Assert.Equal(cpp, f.FromGguf.Encode(text, addBos: f.FromGguf.ToTokenizerData().AddBos));
    }

    /// <summary>
    /// The two places where HF (tokenizer.json) and llama.cpp cannot agree, whatever the GGUF says:
    /// llama.cpp applies no NFC, and it makes Qwen's ordinary token "&lt;/s&gt;" a control token by its
    /// text. The GGUF-built tokenizer follows llama.cpp in both.
    /// </summary>
    [TokenizerOracleTheory]
    [InlineData("qwen3")]
    public void Known_differences_between_tokenizer_json_and_llama_cpp(string family)
    {
        var f = families.Get(family);
        const string nfd = "Cafe\u0301";
        Assert.Equal(f.FromJson.Encode("Caf\u00E9"), f.FromJson.Encode(nfd));
        Assert.NotEqual(f.Cpp.Tokenize("Caf\u00E9", false, true), f.Cpp.Tokenize(nfd, false, true));
        Assert.Equal(f.Cpp.Tokenize(nfd, false, true), f.FromGguf.Encode(nfd));

        int endOfSentence = f.FromJson is ByteLevelBpeTokenizer b ? Enumerable.Range(0, b.VocabSize).First(i => b.TokenText(i) == "</s>") : -1;
        Assert.Equal(GgufTokenType.Normal, f.Data.TokenTypes[endOfSentence]);
        Assert.Equal([endOfSentence], f.Cpp.Tokenize("</s>", false, true));
        Assert.Equal([endOfSentence], f.FromGguf.Encode("</s>"));
        Assert.True(f.FromJson.Encode("</s>").Length > 1);
    }

    // Inserts a space into every occurrence of a text that llama.cpp makes a control token although the vocabulary calls it normal.
    private static string BreakPromotedTexts(string text, TokenizerData data)
    {
        foreach (var t in LlamaCppControlTexts.All)
        {
            if (!text.Contains(t, StringComparison.Ordinal)) continue;
            int id = data.Tokens.ToList().IndexOf(t);
            if (id >= 0 && data.TokenTypes[id] is GgufTokenType.Normal) text = text.Replace(t, t[..1] + " " + t[1..], StringComparison.Ordinal);
        }
        return text;
    }

    // xunit's array diff of 30,000 ids says little; the first differing position and the text around it say what broke.
    private static void AssertSameIds(int[] expected, int[] actual, Family f, string what)
    {
        int n = Math.Min(expected.Length, actual.Length);
        int i = 0;
        while (i < n && expected[i] == actual[i]) i++;
        if (i == n && expected.Length == actual.Length) return;
        string Show(int[] ids) => string.Join(" ", ids.Skip(Math.Max(0, i - 3)).Take(8).Select(id => $"{id}:{Visible(f.Cpp.TokenToPieceBytes(id))}"));
        Assert.Fail($"{what}: first difference at token {i} of {expected.Length}/{actual.Length}\n  llama.cpp: {Show(expected)}\n  ours:      {Show(actual)}");
    }

    private static string Visible(byte[] bytes) =>
        "\"" + Encoding.UTF8.GetString(bytes).Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r") + "\"";

    /// <summary>One family: its tokenizer.json, the GGUF written from it, llama.cpp and our tokenizer on that GGUF.</summary>
    public sealed class Family(ITextTokenizer fromJson, TokenizerData data, LlamaCppModel cpp, ITextTokenizer fromGguf)
    {
        public ITextTokenizer FromJson { get; } = fromJson;
        public TokenizerData Data { get; } = data;
        public LlamaCppModel Cpp { get; } = cpp;
        public ITextTokenizer FromGguf { get; } = fromGguf;
        public bool NormalizesToNfc => FromJson is ByteLevelBpeTokenizer { NormalizesToNfc: true };
    }

    /// <summary>Loads each family once for all tests of the class (the Gemma-3 file alone is 33 MB).</summary>
    public sealed class Families : IDisposable
    {
        private readonly TempDirectory _dir = new();
        private readonly Dictionary<string, Family> _loaded = new();
        private readonly Lock _gate = new();

        public Family Get(string family)
        {
            lock (_gate)
            {
                if (_loaded.TryGetValue(family, out var f)) return f;
                // In CI the attribute lets the test run without the files: fail saying how to get them.
                if (!File.Exists(RealTokenizerFiles.Json(family)))
                    throw new FileNotFoundException($"{RealTokenizerFiles.Json(family)} is missing; run .ci/install-tokenizers.sh", RealTokenizerFiles.Json(family));
                var json = TokenizerLoader.Load(RealTokenizerFiles.Folder(family));
                var data = json.ToTokenizerData();
                string path = _dir.File(family + ".gguf");
                VocabOnlyGguf.Write(path, data);
                var back = VocabOnlyGguf.Read(path);
                f = new Family(json, data, LlamaCppModel.Load(path, vocabOnly: true), GgufTokenizerFactory.Create(back, path));
                _loaded[family] = f;
                return f;
            }
        }

        public void Dispose()
        {
            foreach (var f in _loaded.Values) f.Cpp.Dispose();
            _dir.Dispose();
        }
    }
}
