// A text that exercises the corners of tokenizers: normalization forms, scripts, emoji, digits, code, whitespace and contractions.
namespace QuantSharp.Tests.Tokenizers;

/// <summary>
/// Stress text for tokenizer agreement tests. Escapes keep the exact code points visible: the NFD
/// lines really are decomposed, the whitespace runs really are tabs, CRs and NBSPs.
/// </summary>
internal static class UnicodeStressText
{
    /// <summary>Accented Latin, already composed (NFC).</summary>
    public const string Nfc = "Café naïve résumé Ångström façade São Paulo Øre Zürich crème brûlée Việt Nam ệ ờ ự. ÉCOLE Ü ñ Ñ";

    /// <summary>The same words decomposed (NFD: base letter + combining marks, some in non-canonical order).</summary>
    public const string Nfd = "Cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030Angstro\u0308m fac\u0327ade Sa\u0303o Paulo Zu\u0308rich cre\u0300me bru\u0302le\u0301e " +
        "Vie\u0323\u0302t Nam e\u0302\u0323 o\u031B\u0300 u\u0323\u031B. E\u0301COLE U\u0308 n\u0303 N\u0303 q\u0307\u0323 \u1100\u1161\u11A8 \u1112\u1161\u11AB\u1100\u1173\u11AF";

    /// <summary>The whole stress text.</summary>
    public static readonly string Text = string.Join("\n",
        Nfc,
        Nfd,
        "中文分词测试：我们在二零二四年去了北京。日本語のテキスト、ひらがなとカタカナ。한국어 문장입니다. 繁體中文與简体中文",
        "Emoji: 😀😃😄 👍🏽 👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵 ❤️ ✔ ⭐️ 🤖🦀 x😀y",
        "Digits: 0 12 345 6789 1234567890123456789012 3.14159265358979 1,000,000 -42 +7 2024-01-31 0x1F 1e-9 ١٢٣ ４５６ ² Ⅻ ½",
        "Code:\n\tpublic static int Add(int a, int b)\n\t{\n\t\treturn a + b; // sum\n\t}\n    def f(x):\n        return x**2 if x>0 else -x  # comment\n<div class=\"x\">&amp;</div> {\"k\": [1, 2.5, null]}",
        "Whitespace:  two   three    four\t\ttabs \t mixed\r\nwindows\r\n\r\nblank lines\n\n\n\nfour newlines    \n  trailing  \u00A0nbsp\u2003em space\u200Bzero width",
        "Contractions: it's we'll I'm you're they've she'd can't won't IT'S WE'LL I'M THEY'VE 's 'll 'S 'LL ' s",
        "Mixed: Русский текст, Ελληνικά, العربية النص, עברית, हिन्दी पाठ, ไทย ภาษา, Türkçe İ ı, Straße ß ẞ, ﬁ ﬂ ﬀ, Ω Å K",
        "Specials as text: <|endoftext|> <|im_start|>user<|im_end|> <|begin_of_text|> <bos><start_of_turn>model<end_of_turn> <s> </s> <unk> <pad>",
        "Edge: a  b   c     d\t\te\n\n\nf g ... !!! ??? --- *** ___ ~~~ ``` ''' \"\"\" end.   ");
}
